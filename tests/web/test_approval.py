"""Action approval in the browser, end to end: real Chromium on pages this module serves,
the real WebSurfer driven by a scripted model, and the real control channel and gate.

Each kind is detected from the page (a POST form, not a GET search form; a password field; a
card field; an upload; a download; a new site), an ask with nobody there is a no and the
server shows that nothing happened, a person's yes lets it happen, `--yes` allows, a deny
rule denies, a POST or a download the page starts on its own is held for the decision, and
every request and decision is in the trace with the page's screenshot.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest
import pytest_asyncio
from playwright.async_api import Page

from magentic.agents.base import AgentReply, StepContext
from magentic.agents.web_surfer.agent import WebSurfer
from magentic.agents.web_surfer.browser import BrowserPool
from magentic.control.channel import NOBODY, ControlChannel
from magentic.control.commands import Approve, Command, Deny
from magentic.control.gate import ApprovalGate
from magentic.control.settings import ApprovalSettings
from magentic.events import AgentActed, ControlDecided, ControlRequested, Event, EventBus
from magentic.llm.client import ModelClient
from magentic.llm.settings import ModelSettings
from magentic.testing import ChatRequest, Reply, ScriptedLLMServer
from magentic.trace.report import render_html
from magentic.trace.writer import TraceWriter, read_trace
from tests.web.conftest import web_settings

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

PAGES = {
    "/shop": """<title>Shop</title><h1>Shop</h1>
<form method="post" action="/order" name="order"><label>Name <input name="who"></label>
<button>Place order</button></form>
<form action="/find" role="search"><input type="search" name="q" aria-label="Search terms">
<button>Search</button></form>""",
    "/login": """<title>Sign in</title><form method="post" action="/session" name="signin">
<label>User <input name="user"></label><label>Password <input type="password" name="pw"></label>
<button>Sign in</button></form>""",
    "/pay": """<title>Checkout</title><form method="post" action="/charge">
<label>Card <input name="card" autocomplete="cc-number"></label><button>Pay</button></form>""",
    "/notes": """<title>Notes</title><p id="state">draft</p>
<button type="button" onclick="fetch('/note', {method: 'POST', body: 'remember the milk'})
  .then(() => state.textContent = 'saved', () => state.textContent = 'not saved')">Save note</button>
<form id="f" method="post" action="/order"><input type="hidden" name="who" value="script"></form>
<button type="button" onclick="f.submit()">Quick order</button>""",
    "/files": """<title>Files</title><p><a href="/report.csv">The report</a></p>
<form method="post" action="/upload" enctype="multipart/form-data">
<label>Attachment <input type="file" name="file"></label><button>Send file</button></form>""",
    "/links": """<title>Links</title><p><a href="/shop">Our shop</a></p>
<p><a href="{OTHER}/shop">Their shop</a></p>""",
}


class Site(BaseHTTPRequestHandler):
    """The pages above; every POST that arrives is kept in `posts`."""

    posts: ClassVar[list[tuple[str, str]]] = []
    other = ""

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, body: str, kind: str = "text/html", headers: dict[str, str] | None = None):
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/report.csv":
            attachment = {"Content-Disposition": 'attachment; filename="report.csv"'}
            self._send("quarter,revenue\nQ1,100\n", "text/csv", attachment)
        elif url.path == "/find":
            q = parse_qs(url.query).get("q", [""])[0]
            self._send(f"<title>Found {q}</title><p>Nothing matches {q}.</p>")
        else:
            page = PAGES.get(url.path, "<title>Blank</title>")
            self._send("<!doctype html>" + page.replace("{OTHER}", self.other))

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.posts.append((self.path, body.decode("utf-8", "replace")))
        self._send(f"<title>Received</title><p>Received {self.path}.</p>")


@pytest.fixture(scope="module")
def sites() -> Iterator[tuple[str, str]]:
    """Two sites (127.0.0.1 and localhost, on their own ports) sharing one POST log."""
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), Site) for _ in range(2)]
    for server in servers:
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{servers[0].server_address[1]}"
    other = f"http://localhost:{servers[1].server_address[1]}"
    Site.other = other
    yield base, other
    for server in servers:
        server.shutdown()
        server.server_close()


ELEMENT = re.compile(r'^\[(\d+)\] [\w -]+ "([^"]*)"', re.MULTILINE)


def target(request: ChatRequest, name: str) -> int:
    """The id the agent showed for the element named `name`, as a model would read it."""
    for message in reversed(request.messages):
        text = ChatRequest.content_text(message)
        if message.get("role") == "user" and "The browser now:" in text:
            for number, label in ELEMENT.findall(text):
                if name.lower() in label.lower():
                    return int(number)
    raise AssertionError(f"no element {name!r} in the request")


def act(tool: str, element: str | None = None, **args: Any) -> Callable[[ChatRequest], Reply]:
    """One model turn: call `tool`, on the element named `element` if given."""

    def reply(request: ChatRequest) -> Reply:
        if element is not None:
            args["target_id"] = target(request, element)
        return Reply.tool_call(tool, args)

    return reply


class Surf:
    """A WebSurfer under one `[approval]` table, its trace, and (optionally) a person."""

    def __init__(
        self, surfer: WebSurfer, ctx: StepContext, events: list[Event], trace: TraceWriter
    ) -> None:
        self.surfer, self.ctx, self.events, self.trace = surfer, ctx, events, trace
        self.turns: list[Callable[[ChatRequest], Reply]] = []

    def script(self, request: ChatRequest) -> Reply:
        return self.turns.pop(0)(request)

    async def do(self, turn: Callable[[ChatRequest], Reply]) -> AgentReply:
        self.turns.append(turn)
        return await self.surfer.step("Do what the task says.", self.ctx)

    def of(self, kind: type[Event]) -> list[Any]:
        """The events of a kind; of requests and decisions, those the session-wide hold
        recorded as allowed by the rules are left out (`held_allows` has them)."""
        found = [e for e in self.events if isinstance(e, kind)]
        if kind in (ControlRequested, ControlDecided):
            quiet = {e.request_id for e in self.held_allows()}
            found = [e for e in found if e.request_id not in quiet]
        return found

    def held_allows(self) -> list[ControlRequested]:
        """What the page sent or where it went that the hold let go by policy (recorded)."""
        allowed = {
            e.request_id
            for e in self.events
            if isinstance(e, ControlDecided) and (e.decision, e.by) == ("allow", "policy")
        }
        return [
            e
            for e in self.events
            if isinstance(e, ControlRequested)
            and e.request_id in allowed
            and e.detail.startswith(("After ", "Between actions"))
        ]

    async def value(self, selector: str, js: str = "el => el.value") -> Any:
        return await self.page().locator(selector).evaluate(js)

    def page(self) -> Page:
        session = self.surfer.session
        assert session is not None and session.active is not None
        return session.active


MakeSurf = Callable[..., Any]


@pytest_asyncio.fixture(loop_scope="module")
async def surf(
    pool: BrowserPool, sites: tuple[str, str], tmp_path: Path
) -> AsyncIterator[MakeSurf]:
    opened: list[tuple[WebSurfer, ModelClient, ScriptedLLMServer, TraceWriter]] = []
    hosts = [urlsplit(url).netloc for url in sites]

    async def make(
        person: Callable[[ControlRequested], Command | None] | None = None,
        *,
        web: dict[str, Any] | None = None,
        after_s: float = 0.0,
        **rules: Any,
    ) -> Surf:
        """`person` answers each request (after `after_s`: a person thinking it over)."""
        bus = EventBus("test")
        events: list[Event] = []
        bus.subscribe(events.append)
        trace = TraceWriter(tmp_path / "run")
        bus.subscribe(trace)
        control = ControlChannel(bus)
        if person is not None:  # a face: reads requests from the events, answers by command
            control.attach("test")

            def face(event: Event) -> None:
                if (
                    isinstance(event, ControlRequested)
                    and event.request_id in control.open_requests
                ):
                    command = person(event)
                    if command is not None:
                        asyncio.get_running_loop().call_later(after_s, control.send, command)

            bus.subscribe(face)
        gate = ApprovalGate(ApprovalSettings.model_validate(rules), control)
        ctx = StepContext(
            task="Use the shop.",
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
        surfer = WebSurfer(client, web_settings(*hosts, **(web or {})), pool=pool)
        holder.append(Surf(surfer, ctx, events, trace))
        opened.append((surfer, client, server, trace))
        return holder[0]

    Site.posts.clear()
    yield make
    for surfer, client, server, trace in opened:
        await surfer.close()
        await client.close()
        server.stop()
        trace.close()


def approve(event: ControlRequested) -> Command:
    return Approve(request_id=event.request_id, reason="fine by me")


async def test_a_post_form_asks_and_with_nobody_there_nothing_is_posted(
    surf: MakeSurf, sites: tuple[str, str], tmp_path: Path
) -> None:
    s = await surf()
    await s.do(act("visit_url", url=f"{sites[0]}/shop"))
    await s.do(act("input_text", "Name", text="Ada"))
    reply = await s.do(act("click", "Place order"))
    assert "Did not click: it needs approval (submit_form)" in reply.text
    assert NOBODY in reply.text
    assert Site.posts == []  # the server never saw the order
    assert await s.value("input[name=who]") == "Ada"  # the page is as it was
    [asked] = s.of(ControlRequested)
    assert asked.action == "submit_form" and asked.target == f"{sites[0]}/order"
    assert "click [" in asked.detail and "by POST to" in asked.detail
    assert asked.attachments and asked.attachments[0].mime == "image/jpeg"
    [decided] = s.of(ControlDecided)
    assert (decided.decision, decided.by, decided.reason) == ("deny", "nobody", NOBODY)
    assert s.of(AgentActed)[-1].error == f"not approved (submit_form): {NOBODY}"
    # Enter in the form's field would submit it just the same.
    reply = await s.do(act("press_key", keys="Enter"))
    assert "it needs approval (submit_form)" in reply.text and Site.posts == []
    # A GET search form is navigation, not a submission: nothing is asked.
    await s.do(act("input_text", "Search terms", text="kites", submit=True))
    assert s.page().url.endswith("/find?q=kites")
    assert len(s.of(ControlRequested)) == 2
    # The trace has the request with its screenshot saved beside it, and the decision.
    s.trace.close()
    quiet = {e.request_id for e in s.held_allows()}  # the first page: a new site, allowed
    trace = [
        e
        for e in read_trace(tmp_path / "run")
        if e.kind.startswith("control_") and e.request_id not in quiet
    ]
    assert [e.kind for e in trace] == ["control_requested", "control_decided"] * 2
    assert (tmp_path / "run" / trace[0].attachment_paths[0]).stat().st_size > 1000
    page = render_html(read_trace(tmp_path / "run"))  # the run's HTML report tells it too
    assert "WebSurfer asks (submit_form)" in page and f"refused by nobody: {NOBODY}" in page
    assert f'<img src="{trace[0].attachment_paths[0]}"' in page


async def test_a_persons_yes_lets_the_post_happen(surf: MakeSurf, sites: tuple[str, str]) -> None:
    s = await surf(approve)
    await s.do(act("visit_url", url=f"{sites[0]}/shop"))
    await s.do(act("input_text", "Name", text="Ada"))
    reply = await s.do(act("click", "Place order"))
    assert Site.posts == [("/order", "who=Ada")]
    assert "Received /order" in reply.text
    assert [(d.decision, d.by) for d in s.of(ControlDecided)] == [("allow", "person")]


async def test_yes_allows_and_a_deny_rule_denies(surf: MakeSurf, sites: tuple[str, str]) -> None:
    s = await surf(yes=True)
    await s.do(act("visit_url", url=f"{sites[0]}/shop"))
    await s.do(act("click", "Place order"))
    assert Site.posts == [("/order", "who=")]
    decided = s.of(ControlDecided)
    assert [(d.decision, d.by) for d in decided] == [("allow", "policy")]
    assert "--yes" in decided[0].reason
    s = await surf(approve, submit_form="deny", yes=True)  # deny wins over a person and --yes
    await s.do(act("visit_url", url=f"{sites[0]}/shop"))
    reply = await s.do(act("click", "Place order"))
    assert len(Site.posts) == 1
    assert "the [approval] rule submit_form is deny" in reply.text
    assert [(d.decision, d.by) for d in s.of(ControlDecided)] == [("deny", "policy")]


async def test_password_and_card_fields_are_login(surf: MakeSurf, sites: tuple[str, str]) -> None:
    s = await surf()
    await s.do(act("visit_url", url=f"{sites[0]}/login"))
    await s.do(act("input_text", "User", text="ada"))  # a plain field: nothing to ask
    assert not s.of(ControlRequested)
    reply = await s.do(act("input_text", "Password", text="hunter22"))
    assert "it needs approval (login)" in reply.text
    assert await s.value("input[name=pw]") == ""  # nothing was typed
    await s.do(act("click", "Sign in"))  # posts a form with a password: asked once, as login
    assert Site.posts == []
    asked = s.of(ControlRequested)
    assert [a.action for a in asked] == ["login", "login"]
    assert "password field" in asked[1].detail and "by POST to" in asked[1].detail
    await s.do(act("visit_url", url=f"{sites[0]}/pay"))
    reply = await s.do(act("input_text", "Card", text="4111 1111 1111 1111"))
    assert "it needs approval (login)" in reply.text
    assert "payment card field" in s.of(ControlRequested)[-1].detail


async def test_what_the_page_posts_by_itself_is_held_for_the_decision(
    surf: MakeSurf, sites: tuple[str, str]
) -> None:
    s = await surf()
    await s.do(act("visit_url", url=f"{sites[0]}/notes"))
    reply = await s.do(act("click", "Save note"))  # a plain button whose script posts
    assert Site.posts == []
    assert await s.value("#state", "el => el.textContent") == "not saved"
    assert "it was stopped: not approved (submit_form)" in reply.text
    reply = await s.do(act("click", "Quick order"))  # a script submits a POST form
    assert Site.posts == [] and "Notes" in reply.text
    assert [a.action for a in s.of(ControlRequested)] == ["submit_form", "submit_form"]
    assert "remember the milk" in s.of(ControlRequested)[0].detail
    # The person takes longer than the action's deadline and its settle wait: the clocks
    # stand still while the request is held, so the page is neither called runaway nor
    # observed before it reacted.
    quick = {"action_deadline_s": 1.0, "navigation_timeout_s": 0.5, "settle_max_ms": 300}
    s = await surf(approve, web=quick, after_s=1.5)
    await s.do(act("visit_url", url=f"{sites[0]}/notes"))
    reply = await s.do(act("click", "Save note"))
    assert Site.posts == [("/note", "remember the milk")]
    assert await s.value("#state", "el => el.textContent") == "saved"
    assert "saved" in reply.text and "draft" not in reply.text and "not saved" not in reply.text
    assert s.of(ControlRequested)[0].attachments  # a fresh screenshot of the waiting page
    reply = await s.do(act("click", "Quick order"))
    assert Site.posts[-1] == ("/order", "who=script")
    assert "Received /order" in reply.text


async def test_upload_and_download(surf: MakeSurf, sites: tuple[str, str], tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("private notes\n")
    s = await surf(download="ask")
    await s.do(act("visit_url", url=f"{sites[0]}/files"))
    reply = await s.do(act("upload_file", "Attachment", path="notes.txt"))
    assert "it needs approval (upload)" in reply.text
    assert await s.value("input[type=file]", "el => el.files.length") == 0
    assert s.of(ControlRequested)[-1].target == str(tmp_path / "notes.txt")
    reply = await s.do(act("click", "The report"))  # a link that turns out to be a download
    assert "The download of report.csv was not kept: not approved (download)" in reply.text
    assert not (tmp_path / "report.csv").exists()
    s = await surf(approve, download="ask")
    await s.do(act("visit_url", url=f"{sites[0]}/files"))
    await s.do(act("upload_file", "Attachment", path="notes.txt"))
    assert await s.value("input[type=file]", "el => el.files.length") == 1
    reply = await s.do(act("download", "The report"))
    assert (tmp_path / "report.csv").read_text().startswith("quarter,revenue")
    # The download was asked about before the click, and not again when it arrived.
    assert [a.action for a in s.of(ControlRequested)] == ["upload", "download"]


async def test_new_sites_ask_from_the_first_page_on(surf: MakeSurf, sites: tuple[str, str]) -> None:
    s = await surf(new_domain="ask")
    reply = await s.do(act("visit_url", url=f"{sites[0]}/links"))
    assert "it needs approval (new_domain)" in reply.text and "about:blank" in reply.text
    s = await surf(approve, new_domain="ask")
    await s.do(act("visit_url", url=f"{sites[0]}/links"))
    await s.do(act("click", "Our shop"))  # the same site: not asked
    await s.do(act("history_back"))
    await s.do(act("click", "Their shop"))  # another site: asked
    asked = s.of(ControlRequested)
    assert [a.action for a in asked] == ["new_domain", "new_domain"]
    assert "127.0.0.1 is a site not visited" in asked[0].detail
    assert "localhost is a site not visited" in asked[1].detail
    assert s.page().url == f"{sites[1]}/shop"


async def test_step_mode_asks_before_every_action(surf: MakeSurf, sites: tuple[str, str]) -> None:
    answers = iter(["no", "yes"])

    def person(event: ControlRequested) -> Command:
        if next(answers) == "yes":
            return approve(event)
        return Deny(request_id=event.request_id, reason="use the links page")

    s = await surf(person, web_action="ask")
    reply = await s.do(act("visit_url", url=f"{sites[0]}/shop"))
    assert "not approved (web_action): use the links page" in reply.text
    assert "about:blank" in reply.text
    await s.do(act("visit_url", url=f"{sites[0]}/links"))
    assert s.page().url == f"{sites[0]}/links"
    assert [(d.decision, d.by) for d in s.of(ControlDecided)] == [
        ("deny", "person"),
        ("allow", "person"),
    ]
    assert s.of(ControlRequested)[0].detail.startswith("visit url (url=")
