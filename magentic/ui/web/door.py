"""The web view's lock: who may open it, and from where a command may come.

The view listens on loopback, but loopback is not a person: any web page the person's browser
opens can send requests to it (and, after DNS rebinding, read the answers as same-origin), and
any other user of the machine can connect to it. So every request passes `Guard` first:

1. **The host.** The `Host` header must name the address the view serves (`127.0.0.1:PORT`
   or `localhost:PORT`; any loopback name on a Unix socket, which is reached through a
   tunnel whose port we cannot know). A rebound name (`attacker.test:PORT`) gets 421.
2. **The key.** The view makes a random key when it starts; the CLI prints it once, in the
   link to open. A request carrying it (`?key=`) starts a session: the answer sets a
   `SameSite=Strict; HttpOnly` cookie and redirects to the same address without the key, so
   the key stays out of pages, history entries after the first, and referrers. Every other
   request needs that cookie (401 otherwise). Keys and cookies are compared in constant time.
3. **The site.** A request another site's page sends (`Sec-Fetch-Site: cross-site` or
   `same-site`, e.g. a page on another port of 127.0.0.1, which cookies do not tell apart)
   is refused unless it is a top-level navigation. A request that changes anything (any
   method but GET and HEAD) must also carry an `Origin` equal to the view's own.
4. **The peer.** Over TCP, the connecting process must belong to the view's own user (or
   root), by the kernel's socket table (`peers`): a cookie read by another user's server on
   another port of 127.0.0.1 is of no use to that user.

Each session has a short id, and the view records decisions as `web:<id>`: what the view can
vouch for is "the browser that opened the printed link", not "the person".
"""

from __future__ import annotations

import asyncio
import hmac
import os
import secrets
from collections import OrderedDict
from typing import Any
from urllib.parse import parse_qsl, urlencode

from magentic.ui.web import peers

KEY_PARAM = "key"
MAX_SESSIONS = 64  # the oldest session ends when one more starts
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
_SAFE_METHODS = ("GET", "HEAD")
_PAGE_HEADERS = [
    (b"content-type", b"text/html; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", b"default-src 'none'"),
]
LOCKED = (
    "<!doctype html><meta charset=utf-8><title>magentic: locked</title>"
    "<p>This web view is locked. Open the link magentic printed when the view started "
    "(it ends in <code>?key=…</code>): it unlocks the view for this browser.</p>"
)


class Door:
    """The key, the sessions it started, and the addresses the view answers to."""

    def __init__(self, hosts: tuple[str, ...] | None) -> None:
        """`hosts`: the exact `Host` values accepted, or None for any loopback name and port
        (a Unix socket, reached through a tunnel)."""
        self.hosts = tuple(h.lower() for h in hosts) if hosts is not None else None
        self.key = secrets.token_hex(32)  # hex: no redaction rule mistakes it for a secret
        self.cookie = f"magentic-view-{secrets.token_hex(4)}"  # one per view: views coexist
        self._sessions: OrderedDict[str, str] = OrderedDict()  # cookie value -> session id

    def host_ok(self, host: str) -> bool:
        host = host.strip().lower()
        if self.hosts is not None:
            return host in self.hosts
        name, _, port = host.rpartition(":") if not host.endswith("]") else (host, "", "")
        if not name:  # no port given
            name, port = host, ""
        return name in _LOOPBACK_NAMES and (port == "" or port.isdigit())

    def key_ok(self, key: str) -> bool:
        return hmac.compare_digest(key.encode(), self.key.encode())

    def start_session(self) -> str:
        """A new session's cookie value."""
        value, session = secrets.token_urlsafe(32), secrets.token_hex(4)
        self._sessions[value] = session
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return value

    def session(self, value: str) -> str | None:
        """The session id a cookie value belongs to: each stored value is compared in
        constant time, and all of them are, whatever matches."""
        found = None
        for stored, session in list(self._sessions.items()):
            if hmac.compare_digest(value.encode(), stored.encode()):
                found = session
        return found


class Guard:
    """ASGI middleware: a request passes the door (module docstring) or is answered here;
    the session id of one that passes is `request.state.session`."""

    def __init__(self, app: Any, door: Door, *, check_peer: bool) -> None:
        self.app = app
        self.door = door
        self.check_peer = check_peer

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":  # the view has none: nothing to open past the door
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        if not self.door.host_ok(host):
            await _answer(send, 421, "This view does not serve that host name.")
            return
        method = scope["method"]
        site = headers.get("sec-fetch-site", "")
        navigation = headers.get("sec-fetch-mode", "") == "navigate" and method in _SAFE_METHODS
        if site in ("cross-site", "same-site") and not navigation:
            await _answer(send, 403, "Requests from other sites are refused.")
            return
        if method not in _SAFE_METHODS:
            origin = headers.get("origin", "").lower()
            if origin != f"http://{host.strip().lower()}" or site not in ("", "same-origin"):
                await _answer(send, 403, "Commands are taken only from this view's own pages.")
                return
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        keys = [value for name, value in query if name == KEY_PARAM]
        if keys:
            if not self.door.key_ok(keys[-1]):
                await _answer(send, 401, LOCKED, html=True)
                return
            await self._open(scope, send, [(n, v) for n, v in query if n != KEY_PARAM])
            return
        session = self.door.session(_cookie(headers.get("cookie", ""), self.door.cookie))
        if session is None:
            await _answer(send, 401, LOCKED, html=True)
            return
        if self.check_peer and not await asyncio.to_thread(_peer_allowed, scope):
            await _answer(send, 403, "This view serves only the user who started it.")
            return
        scope.setdefault("state", {})["session"] = session
        await self.app(scope, receive, send)

    async def _open(self, scope: Any, send: Any, query: list[tuple[str, str]]) -> None:
        """The key was right: a new session's cookie, and the same address without the key."""
        value = self.door.start_session()
        path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        if not path.startswith("/") or path.startswith("//"):  # never a redirect elsewhere
            path = "/"
        location = path + (f"?{urlencode(query)}" if query else "")
        cookie = f"{self.door.cookie}={value}; Path=/; HttpOnly; SameSite=Strict"
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [
                    *_PAGE_HEADERS,
                    (b"location", location.encode("latin-1")),
                    (b"set-cookie", cookie.encode("latin-1")),
                    (b"content-length", b"0"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})


def _cookie(header: str, name: str) -> str:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return ""


def _peer_allowed(scope: Any) -> bool:
    """The connecting process is ours or root's (blocking: reads the socket table)."""
    client, server = scope.get("client"), scope.get("server")
    if not client or not server:
        return True  # not TCP: a Unix socket's file mode decides who connects
    if not peers.can_tell():
        return True  # no socket table to read (not Linux): the key alone decides
    uid = peers.tcp_peer_uid((client[0], int(client[1])), (server[0], int(server[1])))
    return uid in (os.geteuid(), 0)


async def _answer(send: Any, status: int, text: str, *, html: bool = False) -> None:
    body = (text if html else f"<!doctype html><meta charset=utf-8><p>{text}</p>").encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*_PAGE_HEADERS, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
