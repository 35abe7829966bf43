"""The generator of the local suite: source data, renderers, artifact readers, tasks.

`make_suite.py` beside this folder drives it; nothing here runs at import time.
"""
