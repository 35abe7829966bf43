"""Which distribution this `magentic` was installed from, and who else claims its name.

On PyPI the name `magentic` belongs to another project (a library of LLM-powered functions)
whose import package is also `magentic`. Ours is distributed as `magentic-team`, with the
same import package and command. If both are installed in one environment they write into
the same `site-packages/magentic/` folder and break each other, often silently: a file of
one replaced by the other's. `magentic doctor` looks for that through the environment's
installed-package records (`importlib.metadata`), which needs no import of either.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from importlib import metadata

DIST_NAME = "magentic-team"
# How our distribution describes itself, also under its earlier name `magentic`.
_OUR_SUMMARY = "A generalist multi-agent team"


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _provides_magentic(dist: metadata.Distribution) -> bool:
    """Whether the distribution installs a top-level `magentic` package."""
    top = dist.read_text("top_level.txt")
    if top is not None and "magentic" in top.split():
        return True
    return any(f.parts and f.parts[0] == "magentic" for f in dist.files or ())


def _is_ours(dist: metadata.Distribution) -> bool:
    name = _canonical(dist.metadata.get("Name") or "")
    summary = dist.metadata.get("Summary") or ""
    return name == DIST_NAME or summary.startswith(_OUR_SUMMARY)


def other_magentic_libraries(path: Sequence[str] | None = None) -> list[str]:
    """ "NAME VERSION" of each installed distribution, not ours, that also provides the
    `magentic` import package (in `path`, else in `sys.path`)."""
    found = (
        metadata.distributions(path=list(path)) if path is not None else metadata.distributions()
    )
    others = {
        f"{dist.metadata.get('Name')} {dist.version}"
        for dist in found
        if not _is_ours(dist) and _provides_magentic(dist)
    }
    return sorted(others)
