"""Serve a suite's static sites on 127.0.0.1 while it runs.

A threaded `http.server` in a daemon thread: the sites are a few small files, every task of
a run shares one server, and the browser (another process) fetches from it, so it must not
depend on our event loop being free. Bound to the loopback only, on a port the OS picks.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

_TYPES = {
    ".js": "text/javascript",
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
}


class _QuietHandler(SimpleHTTPRequestHandler):
    """Static files, no request log on stderr (it would tear through the progress display)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Set before the base __init__, which handles the request right away.
        self.extensions_map = {**self.extensions_map, **_TYPES}
        super().__init__(*args, **kwargs)

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def end_headers(self) -> None:
        # Tasks must see the files as they are now, not a copy a browser kept.
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


class SiteServer:
    """`with SiteServer(folder) as server:` (or `async with`); `server.base_url` while open."""

    def __init__(self, root: str | Path, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise FileNotFoundError(f"no site folder {self.root}")
        self._host, self._port = host, port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the site server is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> SiteServer:
        handler = functools.partial(_QuietHandler, directory=str(self.root))
        self._server = ThreadingHTTPServer((self._host, self._port), handler)
        self._server.daemon_threads = True
        # A short poll interval so that stopping takes milliseconds, not half a second.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="magentic-sites",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SiteServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> SiteServer:
        return self.start()

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # shutdown() waits for the serve loop's next poll and the thread: not on the event loop.
        await asyncio.to_thread(self.stop)
