"""magentic: a generalist multi-agent team in the Magentic-One style.

Nothing here starts a process or opens a file at import time; a run begins only when
`magentic.team.run_task` (or the CLI) is called.
"""

__version__ = "0.1.0"
