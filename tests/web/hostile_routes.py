"""Routes of the local test site that misbehave on purpose: a server that never answers, a
50 MB page, downloads that are too big, attached PDFs and file names that try to escape.

`handle` is called by `site_server.SiteHandler` before its static files; it returns False for
paths that are not its own.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

SITES = Path(__file__).parent / "sites"

# Released when the tests end, so the threads of never-answering requests finish.
RELEASE = threading.Event()


def _stream(
    handler: Any,
    total: int,
    chunk: bytes,
    head: bytes = b"",
    tail: bytes = b"",
    mb_per_s: float = 0.0,
) -> None:
    """Write head, then `chunk` repeated up to `total` bytes, then tail (at `mb_per_s` if
    given, as a remote server would); stop if the reader goes away."""
    try:
        handler.wfile.write(head)
        sent = len(head)
        while sent < total - len(tail):
            handler.wfile.write(chunk)
            sent += len(chunk)
            if mb_per_s:
                time.sleep(len(chunk) / (mb_per_s * 1024 * 1024))
        handler.wfile.write(tail)
    except (ConnectionError, OSError):
        pass


def handle(handler: Any, route: str, query: dict[str, str]) -> bool:
    if route == "/hostile/never":
        # Reads the request, then never answers (until the test run ends).
        RELEASE.wait(600)
        handler.close_connection = True
        return True
    if route == "/hostile/bigdom":
        megabytes = int(query.get("mb", "50"))
        head = b"<!doctype html><html><head><title>Huge page</title></head><body>"
        tail = b"</body></html>"
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html; charset=utf-8")
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True
        row = b"<div class='row'><span>cell</span><a href='#x'>link</a></div>\n"
        _stream(handler, megabytes * 1024 * 1024, row * 64, head, tail)
        return True
    if route == "/download/big.bin":
        size = int(float(query.get("mb", "64")) * 1024 * 1024)
        handler.send_response(200)
        handler.send_header("Content-Type", "application/octet-stream")
        handler.send_header("Content-Disposition", 'attachment; filename="camera-archive.bin"')
        handler.send_header("Content-Length", str(size))
        handler.end_headers()
        _stream(handler, size, b"\0" * 65536, mb_per_s=float(query.get("mbps", "0")))
        return True
    if route == "/download/tides-attached.pdf":
        data = (SITES / "download-tides.pdf").read_bytes()
        handler._send(
            200,
            data,
            "application/pdf",
            {"Content-Disposition": 'attachment; filename="tides-attached.pdf"'},
        )
        return True
    if route == "/download/named":
        name = query.get("name", "file.txt").replace('"', "")
        handler._send(
            200,
            "Notice: the north pier is closed.\n",
            "text/plain",
            {"Content-Disposition": f'attachment; filename="{name}"'},
        )
        return True
    return False
