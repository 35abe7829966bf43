"""The session-wide hold, played as an attacker: real Chromium on two real origins
(127.0.0.1 and localhost, each its own server and port), pages that send POSTs and go to new
sites on their own (timers, listeners, beacons, a service worker, redirects), and the real
WebSurfer, control channel and gate.

Each test shows that what the page tried never reached a server (each server keeps every
request it received) and that the decision is in the trace; an allowed POST goes out and is
recorded as allowed; a denied auto-submitting form ends its action at once.

The "timer" pages wait for a go from the test (a long-poll the server answers when the test
says so), so the page's own timer fires at a known point: between actions, or during `sleep`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import pytest
import pytest_asyncio

from magentic.agents.base import StepContext
from magentic.agents.web_surfer.agent import WebSurfer
from magentic.agents.web_surfer.browser import BrowserPool
from magentic.control.channel import NOBODY, ControlChannel
from magentic.control.gate import ApprovalGate
from magentic.control.settings import ApprovalSettings
from magentic.events import ControlDecided, ControlRequested, Event, EventBus
from magentic.llm.client import ModelClient
from magentic.llm.settings import ModelSettings
from magentic.testing import ChatRequest, Reply, ScriptedLLMServer
from magentic.trace.writer import TraceWriter, read_trace
from tests.web.conftest import web_settings
from tests.web.test_approval import Surf, act

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

# Waits for the test's go (a long-poll), then runs `then` (the page's own code).
GO = "fetch('/go').then(() => {{ {then} }});"

PAGES = {
    "/timer-fetch": "<title>Timer fetch</title><p>quiet</p><script>"
    + GO.format(then="fetch('/api', {method: 'POST', body: 'timer fetch'})")
    + "</script>",
    "/timer-submit": """<title>Timer submit</title>
<form id="f" method="post" action="/order"><input type="hidden" name="who" value="timer"></form>
<script>"""
    + GO.format(then="setTimeout(() => f.submit(), 300)")
    + "</script>",
    "/scroll": """<title>Scroll</title><div style="height: 5000px">tall</div><script>
addEventListener('scroll', () => fetch('/api', {method: 'POST', body: 'scrolled'}), {once: true});
</script>""",
    "/beacon": """<title>Beacon</title>
<button type="button" onclick="navigator.sendBeacon('/beacon', 'same-site beacon')">Like</button>""",
    "/cross": """<title>Cross</title><button type="button" onclick="fetch('{OTHER}/collect',
 {method: 'POST', mode: 'no-cors', body: 'cross-site post'})">Share</button>""",
    "/sw": """<title>Worker</title><p id="sw">pending</p><script>
navigator.serviceWorker.register('/sw.js').then(
  () => navigator.serviceWorker.ready.then(() => sw.textContent = 'registered'),
  () => sw.textContent = 'refused');
</script>""",
    "/links": """<title>Links</title><p><a href="/redirect">Partner offer</a></p>
""",
    "/timer-nav": "<title>Timer nav</title><script>"
    + GO.format(then="location.href = '{OTHER}/landed'")
    + "</script>",
    "/autosubmit": """<title>Auto</title>
<form id="f" method="post" action="/order"><input type="hidden" name="who" value="auto"></form>
<script>f.submit()</script>""",
    "/plain": "<title>Plain</title><p>Nothing here.</p>",
    "/notes": """<title>Notes</title><p id="state">draft</p><button type="button"
 onclick="fetch('/note', {method: 'POST', body: 'milk'}).then(() => state.textContent = 'saved')"
>Save note</button>""",
}

SW = """self.addEventListener('activate', event => event.waitUntil(
  fetch('/sw-post', {method: 'POST', body: 'from the worker'})));"""


class Server(BaseHTTPRequestHandler):
    """The pages above on either origin; every request received is kept in `received`."""

    received: ClassVar[list[tuple[str, str, str, str]]] = []  # (origin, method, path, body)
    go: ClassVar[threading.Event] = threading.Event()
    changed: ClassVar[Callable[[], None]] = staticmethod(lambda: None)
    other = ""

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _keep(self, body: str = "") -> None:
        origin = f"{self.headers.get('Host', '')}"
        self.received.append((origin, self.command, urlsplit(self.path).path, body))
        Server.changed()

    def _send(self, body: str, kind: str = "text/html", status: int = 200, **headers: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._keep()
        path = urlsplit(self.path).path
        if path == "/go":
            self.go.wait(30)
            self._send("go", "text/plain")
        elif path == "/redirect":
            self._send("", status=302, Location=f"{self.other}/landed")
        elif path == "/sw.js":
            self._send(SW, "text/javascript")
        else:
            page = PAGES.get(path, "<title>Landed</title><p>landed</p>")
            self._send("<!doctype html>" + page.replace("{OTHER}", self.other))

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._keep(body.decode("utf-8", "replace"))
        self._send("<title>Received</title><p>received</p>")


@pytest.fixture(scope="module")
def sites() -> Iterator[tuple[str, str]]:
    """127.0.0.1 and localhost, each its own server: two sites to Chromium."""
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), Server) for _ in range(2)]
    for server in servers:
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{servers[0].server_address[1]}"
    other = f"http://localhost:{servers[1].server_address[1]}"
    Server.other = other
    yield base, other
    Server.go.set()
    for server in servers:
        server.shutdown()
        server.server_close()


def posts() -> list[tuple[str, str, str, str]]:
    return [r for r in Server.received if r[1] != "GET"]


class Watch:
    """Wake a waiting test whenever a server received something or an event was emitted."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.changed = asyncio.Event()

    def poke(self) -> None:
        self.loop.call_soon_threadsafe(self.changed.set)

    async def until(self, condition: Callable[[], bool], timeout_s: float = 15.0) -> None:
        """Wait for `condition` (re-checked at each change; bounded, never a fixed sleep)."""
        async with asyncio.timeout(timeout_s):
            while not condition():
                self.changed.clear()
                await self.changed.wait()


@pytest_asyncio.fixture(loop_scope="module")
async def surf(
    pool: BrowserPool, sites: tuple[str, str], tmp_path: Path
) -> AsyncIterator[Callable[..., Any]]:
    opened: list[tuple[WebSurfer, ModelClient, ScriptedLLMServer, TraceWriter]] = []
    hosts = [urlsplit(url).netloc for url in sites]
    watch = Watch()
    Server.changed = staticmethod(watch.poke)

    async def make(*, web: dict[str, Any] | None = None, **rules: Any) -> Surf:
        bus = EventBus("test")
        events: list[Event] = []
        bus.subscribe(events.append)
        bus.subscribe(lambda _: watch.poke())
        trace = TraceWriter(tmp_path / "run")
        bus.subscribe(trace)
        control = ControlChannel(bus)
        gate = ApprovalGate(ApprovalSettings.model_validate(rules), control)
        ctx = StepContext(
            task="Browse.",
            conversation=[],
            workspace=tmp_path,
            events=bus,
            control=control,
            gate=gate,
        )
        holder: list[Surf] = []
        server = ScriptedLLMServer(lambda request: holder[0].script(request)).start()
        client = ModelClient(
            ModelSettings(model="scripted", base_url=server.base_url, api_key="t", vision=False),
            role="web_surfer",
            events=bus,
        )
        quick = {"settle_max_ms": 400, **(web or {})}
        surfer = WebSurfer(client, web_settings(*hosts, **quick), pool=pool)
        holder.append(Surf(surfer, ctx, events, trace))
        holder[0].watch = watch  # type: ignore[attr-defined]
        opened.append((surfer, client, server, trace))
        return holder[0]

    Server.received.clear()
    Server.go.clear()
    yield make
    Server.go.set()
    for surfer, client, server, trace in opened:
        await surfer.close()
        await client.close()
        server.stop()
        trace.close()


def decided_on(s: Surf, url_part: str) -> bool:
    """Is there a recorded decision on a request whose detail names `url_part`?"""
    asked = {a.request_id for a in s.of(ControlRequested) if url_part in a.detail}
    return any(d.request_id in asked for d in s.of(ControlDecided))


def denied(s: Surf, kind: str, url_part: str) -> ControlDecided:
    """The recorded request for `url_part` and its denial (nobody there to ask)."""
    asked = [a for a in s.of(ControlRequested) if a.action == kind and url_part in a.detail]
    assert asked, (
        f"no {kind} request for {url_part} in {[a.detail for a in s.of(ControlRequested)]}"
    )
    [decided] = [d for d in s.of(ControlDecided) if d.request_id == asked[-1].request_id]
    assert decided.decision == "deny", decided
    return decided


def go_then(turn: Callable[[ChatRequest], Reply]) -> Callable[[ChatRequest], Reply]:
    """A model turn that first lets the pages' timers go (the model answers, then the action)."""

    def reply(request: ChatRequest) -> Reply:
        Server.go.set()
        return turn(request)

    return reply


async def test_a_timer_fetch_between_actions_is_held_and_denied(
    surf: Callable[..., Any], sites: tuple[str, str]
) -> None:
    s = await surf()
    await s.do(act("visit_url", url=f"{sites[0]}/timer-fetch"))
    Server.go.set()  # the page's timer fires now, with no action under way
    await s.watch.until(lambda: bool(posts()) or decided_on(s, "/api"))
    assert posts() == []
    decided = denied(s, "submit_form", "/api")
    assert decided.by == "nobody" and decided.reason == NOBODY
    assert "timer fetch" in s.of(ControlRequested)[-1].detail


async def test_a_timer_form_submit_during_sleep_ends_the_sleep(
    surf: Callable[..., Any], sites: tuple[str, str]
) -> None:
    s = await surf()
    await s.do(act("visit_url", url=f"{sites[0]}/timer-submit"))
    reply = await s.do(go_then(act("sleep", seconds=8)))
    assert posts() == []
    denied(s, "submit_form", "/order")
    assert "not approved" in reply.text
    assert "Waited" not in reply.text  # it ended at the refusal, not after 8 seconds


async def test_a_scroll_listener_post_is_held(
    surf: Callable[..., Any], sites: tuple[str, str]
) -> None:
    s = await surf()
    await s.do(act("visit_url", url=f"{sites[0]}/scroll"))
    reply = await s.do(act("scroll", direction="down"))
    await s.watch.until(lambda: bool(posts()) or decided_on(s, "/api"))
    assert posts() == []
    denied(s, "submit_form", "/api")
    assert "not approved" in reply.text


async def test_a_same_site_beacon_is_held(surf: Callable[..., Any], sites: tuple[str, str]) -> None:
    s = await surf()
    await s.do(act("visit_url", url=f"{sites[0]}/beacon"))
    await s.do(act("click", "Like"))
    await s.watch.until(lambda: bool(posts()) or decided_on(s, "/beacon"))
    assert posts() == []
    denied(s, "submit_form", "/beacon")
    assert "same-site beacon" in s.of(ControlRequested)[-1].detail


async def test_a_cross_site_post_on_a_click_is_held(
    surf: Callable[..., Any], sites: tuple[str, str]
) -> None:
    s = await surf()
    await s.do(act("visit_url", url=f"{sites[0]}/cross"))
    reply = await s.do(act("click", "Share"))
    await s.watch.until(lambda: bool(posts()) or decided_on(s, "/collect"))
    assert posts() == []
    denied(s, "submit_form", f"{sites[1]}/collect")
    assert "not approved" in reply.text


async def test_a_service_worker_cannot_register_and_post(
    surf: Callable[..., Any], sites: tuple[str, str]
) -> None:
    s = await surf()
    await s.do(act("visit_url", url=f"{sites[0]}/sw"))
    # The page asked to register its worker as it loaded; nothing is registered, the
    # worker's script was never even fetched, and nothing was posted.
    registered = "navigator.serviceWorker.getRegistrations().then(r => r.length)"
    assert await s.page().evaluate(registered) == 0
    assert await s.page().locator("#sw").text_content() == "pending"
    assert not [r for r in Server.received if r[2] == "/sw.js"]
    assert posts() == []


async def test_a_redirect_to_a_new_site_is_held(
    surf: Callable[..., Any], sites: tuple[str, str]
) -> None:
    s = await surf(new_domain="ask", web_action="allow")
    s.surfer.visited_sites.add("127.0.0.1")  # the start site is known; localhost is new
    await s.do(act("visit_url", url=f"{sites[0]}/links"))
    reply = await s.do(act("click", "Partner offer"))  # a same-site link that redirects away
    assert not [r for r in Server.received if r[2] == "/landed"]
    denied(s, "new_domain", f"{sites[1]}/landed")
    assert "not approved" in reply.text
    assert s.page().url.startswith(sites[0])


async def test_a_timer_navigation_to_a_new_site_is_held(
    surf: Callable[..., Any], sites: tuple[str, str]
) -> None:
    s = await surf(new_domain="ask")
    s.surfer.visited_sites.add("127.0.0.1")
    await s.do(act("visit_url", url=f"{sites[0]}/timer-nav"))
    Server.go.set()  # the page's timer sends the tab away, with no action under way
    await s.watch.until(
        lambda: any(r[2] == "/landed" for r in Server.received) or decided_on(s, "/landed")
    )
    assert not [r for r in Server.received if r[2] == "/landed"]
    denied(s, "new_domain", f"{sites[1]}/landed")
    assert s.page().url == f"{sites[0]}/timer-nav"


async def test_an_allowed_post_goes_and_is_recorded_as_allowed(
    surf: Callable[..., Any], sites: tuple[str, str], tmp_path: Path
) -> None:
    s = await surf(submit_form="allow")
    await s.do(act("visit_url", url=f"{sites[0]}/notes"))
    reply = await s.do(act("click", "Save note"))
    assert [r[1:] for r in posts()] == [("POST", "/note", "milk")]
    assert "saved" in reply.text
    [asked] = [a for a in s.held_allows() if a.action == "submit_form"]
    assert f"POST {sites[0]}/note" in asked.detail and "milk" in asked.detail
    decisions = [e for e in s.events if isinstance(e, ControlDecided)]
    [decided] = [d for d in decisions if d.request_id == asked.request_id]
    assert (decided.decision, decided.by) == ("allow", "policy")
    s.trace.close()
    trace = read_trace(tmp_path / "run")
    held = [e for e in trace if e.kind == "control_requested" and e.action == "submit_form"]
    assert [e.target for e in held] == [f"{sites[0]}/note"]
    assert [(e.decision, e.by) for e in trace if e.kind == "control_decided"][-1] == (
        "allow",
        "policy",
    )


async def test_a_denied_auto_submitting_form_ends_the_action_at_once(
    surf: Callable[..., Any], sites: tuple[str, str]
) -> None:
    # A deadline under the navigation timeout: the old stall ended in a destroyed tab.
    s = await surf(web={"action_deadline_s": 8.0})
    reply = await s.do(act("visit_url", url=f"{sites[0]}/autosubmit"))  # it posts a form at once
    assert posts() == []
    denied(s, "submit_form", "/order")
    assert "not approved" in reply.text
    assert "did not respond" not in reply.text and "was stopped because" not in reply.text
    # The tab still works.
    reply = await s.do(act("visit_url", url=f"{sites[0]}/plain"))
    assert s.page().url == f"{sites[0]}/plain" and "Nothing here." in reply.text
