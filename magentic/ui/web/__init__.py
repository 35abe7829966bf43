"""`magentic ui`: a local web view of runs and benches, live while they are written.

`store` finds runs and benches on disk and reads their files forgivingly (a half-written
line waits, an unreadable one becomes a note); `pages` turns them into escaped HTML; `app`
serves the pages and follows growing files as server-sent events; `steering` makes the view a
face on the control channel of a run it serves in-process (`run --ui`); `door` locks it
(host, printed key and cookie, origin, peer uid), `listen` binds 127.0.0.1 or a private Unix
socket, `streams` carries redacted model text. Needs the `ui` extra.
"""
