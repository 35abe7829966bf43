"""The local test sites, served on 127.0.0.1 by a real HTTP server in a thread.

Static pages live in `sites/`; a few routes are made here because they need a server:
search results, late API answers, a download, error statuses, a redirect, a slow page, an
echo of submitted forms, an upload receiver and a page that refuses to be framed. The
benchmarks import this module too.

`serve_two_sites` serves the same files on a second origin (`localhost` on another port, a
different site to Chromium, so its frames run out of process); `{{OTHER}}` in a page is
replaced by the other origin's base URL.
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import html
import json
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.web import hostile_routes

SITES = Path(__file__).parent / "sites"

SEARCH_INDEX = [
    ("Alpha Peak", "/articles/alpha.html", "A mountain of the Examplia range, 4,321 metres high."),
    ("Beta Lake", "/articles/beta.html", "A deep lake below Alpha Peak."),
    ("Gamma River", "/articles/gamma.html", "The river that drains Beta Lake."),
    ("Order form", "/form.html", "Order something with a form."),
    ("Long page", "/long.html", "A page with many sections."),
]


# Every path requested, in order (tests check that a blocked request never arrived).
REQUESTS: list[str] = []


class SiteHandler(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    other_origin = ""  # the base URL `{{OTHER}}` stands for in pages (set per server)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, directory=str(SITES), **kwargs)

    def _templated(self, route: str) -> bool:
        """Pages naming the other origin are served with it filled in."""
        path = (SITES / route.lstrip("/")).resolve()
        if not (route.endswith(".html") and path.is_file() and path.is_relative_to(SITES)):
            return False
        text = path.read_text("utf-8")
        if "{{OTHER}}" not in text:
            return False
        self._send(200, text.replace("{{OTHER}}", self.other_origin or ""))
        return True

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(
        self,
        status: int,
        body: str | bytes,
        content_type: str = "text/html; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(data)  # the browser may have given up on a slow page

    def _page(self, title: str, body: str) -> str:
        return (
            f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title></head><body>{body}</body></html>"
        )

    def do_GET(self) -> None:
        REQUESTS.append(self.path)
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        route = url.path
        if route == "/search":
            self._search(query.get("q", ""))
        elif route == "/api/late":
            time.sleep(int(query.get("ms", "400")) / 1000)
            self._send(200, json.dumps({"apples": 42}), "application/json")
        elif route == "/download/report.csv":
            self._send(
                200,
                "quarter,revenue\nQ1,100\nQ2,120\n",
                "text/csv",
                {"Content-Disposition": 'attachment; filename="report.csv"'},
            )
        elif route.startswith("/status/"):
            code = int(route.rsplit("/", 1)[1])
            self._send(
                code, self._page(f"Error {code}", f"<h1>Error {code}</h1><p>The server failed.</p>")
            )
        elif route == "/redirect":
            self.send_response(302)
            self.send_header("Location", query.get("to", "/"))
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif route == "/slow":
            time.sleep(int(query.get("ms", "3000")) / 1000)
            self._send(200, self._page("Slow page", "<p>Finally loaded.</p>"))
        elif route == "/echo":
            items = "".join(
                f"<li>{html.escape(k)} = {html.escape(v)}</li>" for k, v in sorted(query.items())
            )
            self._send(200, self._page("Form received", f"<h1>Form received</h1><ul>{items}</ul>"))
        elif route == "/jump":
            # A link and a popup button to any address: how pages lead the agent elsewhere.
            to = html.escape(query.get("to", "/"), quote=True)
            body = (
                f"<p><a href='{to}'>Follow the link</a></p>"
                f"<p><button onclick=\"window.open('{to}')\">Open it in a popup</button></p>"
            )
            self._send(200, self._page("Jump", body))
        elif route == "/api/results":
            time.sleep(1.0)  # results arrive about a second after the choice
            race = query.get("race", "")
            rows = {"spring": [["Gull", "1:02:11"], ["Petrel", "1:04:40"]],
                    "autumn": [["Tern", "0:58:03"], ["Gannet", "1:01:27"]]}.get(race, [])  # fmt: skip
            self._send(200, json.dumps(rows), "application/json")
        elif route == "/no-framing":
            self._send(
                200,
                self._page("Bank login", "<p>You cannot see this in a frame.</p>"),
                headers={"X-Frame-Options": "DENY"},
            )
        elif self._templated(route):
            pass
        elif route == "/secret":
            self._send(200, self._page("Secret", "<p>The secret is 8675309.</p>"))
        elif hostile_routes.handle(self, route, query):
            pass
        else:
            super().do_GET()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        if urlsplit(self.path).path != "/upload":
            self._send(404, self._page("Not found", "<p>Not found</p>"))
            return
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + self.headers.get("Content-Type", "").encode() + b"\r\n\r\n" + body
        )
        lines = []
        for part in message.iter_parts():
            name = part.get_filename()
            if name:
                payload = part.get_payload(decode=True)
                data = payload if isinstance(payload, bytes) else b""
                first = data.decode("utf-8", "replace").splitlines()[0] if data else ""
                lines.append(
                    f"<li>{html.escape(name)}: {len(data)} bytes, first line: {html.escape(first)}</li>"
                )
        self._send(
            200, self._page("Upload received", f"<h1>Upload received</h1><ul>{''.join(lines)}</ul>")
        )

    def _search(self, q: str) -> None:
        words = [w for w in q.lower().split() if w]
        hits = [
            item
            for item in SEARCH_INDEX
            if words and any(w in (item[0] + " " + item[2]).lower() for w in words)
        ]
        results = "".join(
            f"<li><a href='{path}'>{html.escape(title)}</a><p>{html.escape(snippet)}</p></li>"
            for title, path, snippet in hits
        )
        body = (
            f"<h1>Results for {html.escape(q)}</h1><p>{len(hits)} results</p><ol>{results}</ol>"
            "<form action='/search'><input type='search' name='q' aria-label='Search terms' "
            f"value='{html.escape(q, quote=True)}'><button>Search</button></form>"
        )
        self._send(200, self._page(f"{q} - Local Search", body))


def _start(handler: type[SiteHandler]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _stop(server: ThreadingHTTPServer) -> None:
    server.shutdown()
    server.server_close()


@contextlib.contextmanager
def serve_sites() -> Iterator[str]:
    """Serve the sites on a free port; yields the base URL (no trailing slash)."""
    with serve_two_sites() as (base, _):
        yield base


@contextlib.contextmanager
def serve_two_sites() -> Iterator[tuple[str, str]]:
    """The sites on two origins: `http://127.0.0.1:P` and `http://localhost:Q`, each page's
    `{{OTHER}}` naming the other one."""
    first_handler = type("FirstSite", (SiteHandler,), {})
    second_handler = type("SecondSite", (SiteHandler,), {})
    first, second = _start(first_handler), _start(second_handler)
    base = f"http://127.0.0.1:{first.server_address[1]}"
    other = f"http://localhost:{second.server_address[1]}"
    first_handler.other_origin, second_handler.other_origin = other, base
    try:
        yield base, other
    finally:
        hostile_routes.RELEASE.set()  # never-answering requests end with the server
        _stop(first)
        _stop(second)
