"""Action approval in the browser: what a WebSurfer action would do, asked before it happens,
and a backstop for what the page then does on its own.

**Before** each action (`before`), outside the action's clock, the page is read for what the
action means (page.js `actionInfo`): a click on a form's submit button, or Enter in one of
its fields, submits it (`submit_form` when it posts; `login` when the form has a password or
payment-card field); typing into such a field is `login`; a link or an address on a site
not visited in this run is `new_domain`; `upload_file` is `upload`, `download` is
`download`; and every action is `web_action` (what `--step` asks about). The strictest rule
of the action's kinds decides, and a person is asked once, shown the exact action and the
page's screenshot. A no leaves the page untouched: the model is told why.

**During** the action (`acting`), what reading the page could not foresee is caught where
it happens: a context route holds each POST the page sends (a form submission anywhere, or
a script's request to the page's own site; third-party beacons pass) and each top-level
navigation to a new site, until the gate has decided; a no aborts the request. Downloads
are held the same way before they are saved into the workspace. While a request is held,
the action's clocks stop (holds.py). The route is installed only for the action and only
when a rule could stop something, because routing turns Chromium's HTTP cache off.

Limits: a route never sees redirect hops (proxy.py says why), so a redirect to a new site
is not asked about; a POST in a service worker's own fetch is not seen either.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, Request, Route

from magentic.agents.web_surfer.actions import ActionProblem, ActionResult, Actions
from magentic.agents.web_surfer.address import resolve_address
from magentic.agents.web_surfer.browser import BrowserSession
from magentic.agents.web_surfer.domains import site_of, suffix_list
from magentic.agents.web_surfer.downloads import human_size
from magentic.agents.web_surfer.effects import send_once, sends_once
from magentic.agents.web_surfer.observe import Observation, capture
from magentic.agents.web_surfer.page_module import call, ids_of
from magentic.agents.web_surfer.settings import WebSurferSettings
from magentic.events import Attachment
from magentic.llm.messages import ToolCall

if TYPE_CHECKING:
    from magentic.agents.base import StepContext
    from magentic.control.gate import ApprovalGate

# The order of specificity: of kinds with equally strict rules, the first is asked about.
ORDER = ("login", "submit_form", "upload", "download", "new_domain", "web_action")
# Actions that cannot make the page post or navigate: no backstop route for them.
NO_BACKSTOP = frozenset({"scroll", "find_on_page", "find_next", "sleep"})
_DETAIL_CHARS = 1000


@dataclass
class Guarded:
    """One action as the gate sees it: its kinds and the words a person reads."""

    kinds: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    target: str = ""
    sites: set[str] = field(default_factory=set)  # sites it opens that are new

    def add(self, kind: str, reason: str) -> None:
        if kind not in self.kinds:
            self.kinds.append(kind)
        self.reasons.append(reason)


class WebApprovals:
    """The gate's side of one browser session (one WebSurfer's task)."""

    def __init__(
        self,
        session: BrowserSession,
        settings: WebSurferSettings,
        *,
        agent: str,
        visited: set[str] | None = None,
    ) -> None:
        self.session = session
        self.settings = settings
        self.agent = agent
        self.ctx: StepContext | None = None
        # Sites a tab of this run has shown (the agent's set, kept across a replan).
        self.visited: set[str] = visited if visited is not None else set()
        self.current = ""  # the action under way, in words (for what the backstop asks)
        self.cleared: set[str] = set()  # kinds allowed for the action under way
        self.refused_kinds: set[str] = set()  # kinds refused during it: not asked again
        self.cleared_sites: set[str] = set()
        self.refused: list[str] = []  # what the backstop stopped, for the observation
        self.before_shot: Observation | None = None  # the latest observation with a shot
        self.posts = False  # the action under way submits a form: its POST is journaled
        session.approvals = self

    @property
    def gate(self) -> ApprovalGate | None:
        return self.ctx.gate if self.ctx is not None else None

    async def begin(self, ctx: StepContext) -> None:
        """A new step: its context (the gate, the trace); the suffix list read off the loop."""
        self.ctx = ctx
        await asyncio.to_thread(suffix_list)
        self.remember_sites()

    # Before --------------------------------------------------------------------------------
    async def before(
        self, call_: ToolCall, seen: Observation, actions: Actions
    ) -> ActionResult | None:
        """Ask about one action before it runs: None to go on, else the result of not
        running it (the reason, for the model)."""
        self.cleared, self.cleared_sites, self.refused_kinds = set(), set(), set()
        self.posts = False
        self.current = describe(call_, seen)
        self.saw(seen)
        gate = self.gate
        if gate is None:
            return None
        guarded = await self.classify(call_, seen, actions)
        self.posts = bool({"submit_form", "upload", "login"} & set(guarded.kinds))
        kinds = [k for k in ORDER if k in guarded.kinds or k == "web_action"]
        kind, rule = gate.strictest(kinds)
        if rule != "allow":
            where = f"{seen.state.title or '(no title)'} <{seen.state.url}>"
            detail = f"{self.current}, on {where}."
            if guarded.reasons:
                detail += "\n" + "\n".join(f"- {reason}" for reason in guarded.reasons)
            decision = await gate.check(
                kind,
                self.agent,
                detail,
                target=guarded.target or seen.state.url,
                rule=rule,
                attachments=lambda: self._screenshot(call_.name, seen),
            )
            if not decision.allowed:
                return ActionResult(
                    f"Did not {_verb(call_)}: it needs approval ({kind}), which was not "
                    "given. Nothing was done on the page.",
                    error=f"not approved ({kind}): {decision.reason}",
                )
        self.cleared, self.cleared_sites = set(kinds), set(guarded.sites)
        return None

    def saw(self, seen: Observation) -> None:
        """The agent observed the page: its latest screenshot stands in for a page that
        cannot be captured while it waits (a held navigation)."""
        if seen.screenshot is not None:
            self.before_shot = seen

    async def classify(self, call_: ToolCall, seen: Observation, actions: Actions) -> Guarded:
        """The kinds of one action, read from the page (bounded: a page that does not answer
        leaves the backstop to catch what the action does)."""
        guarded = Guarded()
        try:
            await asyncio.wait_for(
                self._classify(call_, guarded, actions), self.settings.action_timeout_s
            )
        except (PlaywrightError, ActionProblem, asyncio.TimeoutError, TimeoutError):
            pass  # a page that does not answer: the backstop still holds what it sends
        except (KeyError, TypeError, ValueError):
            pass  # arguments the action itself will refuse (no target_id, not a number)
        return guarded

    async def _classify(self, call_: ToolCall, guarded: Guarded, actions: Actions) -> None:
        name, args = call_.name, call_.arguments
        page = self.session.active
        if page is None:
            return
        if name in ("visit_url", "web_search") or (
            name == "tab" and args.get("action") == "open" and args.get("url")
        ):
            url = self._address(name, args, page.url)
            if url:
                guarded.target = url
                self._new_site(url, guarded, "It opens")
            return
        if name == "press_key" and "enter" in str(args.get("keys", "")).lower():
            focused = await call(page.main_frame, "focusInfo")
            if focused and (focused.get("enterSubmits") or focused.get("submits")):
                self._form(focused, guarded)
            return
        if name not in ("click", "input_text", "select_option", "upload_file", "download"):
            return
        place = ids_of(page).place(int(args["target_id"]))
        if place is None:
            return  # no such element: the action itself says so
        frame, local_id = place
        info: dict[str, Any] | None = await call(frame, "actionInfoOf", local_id, name != "click")
        if info is None:
            return
        if name == "upload_file":
            file = actions.task_file(str(args.get("path", "")))
            size = human_size(file.stat().st_size)
            guarded.target = str(file)
            guarded.add("upload", f"It sends the workspace file {file.name} ({size}) to the page.")
        elif name == "select_option":
            if info.get("card"):
                guarded.add("login", "It chooses in a payment card field.")
        elif name == "input_text":
            if info.get("password"):
                guarded.add("login", "It types into a password field.")
            if info.get("card"):
                guarded.add("login", "It types into a payment card field.")
            if args.get("submit") and info.get("enterSubmits"):
                self._form(info, guarded)
        else:  # click, download
            href = str(info.get("href") or "")
            if name == "download" or info.get("download"):
                guarded.target = href or guarded.target
                guarded.add("download", f"It downloads the file behind it ({href or 'no link'}).")
            elif href:
                guarded.target = href
                self._new_site(href, guarded, "The link leads to")
            if info.get("submits"):
                self._form(info, guarded)

    def _form(self, info: dict[str, Any], guarded: Guarded) -> None:
        form = info.get("form") or {}
        if not form:
            return
        name = f" {form['name']!r}" if form.get("name") else ""
        action = str(form.get("action") or "")
        if form.get("password"):
            guarded.add("login", f"The form{name} has a password field.")
        if form.get("card"):
            guarded.add("login", f"The form{name} asks for payment card details.")
        if str(form.get("method", "get")).lower() == "post":
            guarded.target = action
            guarded.add("submit_form", f"It submits the form{name} by POST to {action[:300]}.")
        elif action:
            guarded.target = guarded.target or action
            self._new_site(action, guarded, f"The form{name} goes to")

    def _new_site(self, url: str, guarded: Guarded, lead: str) -> None:
        site = site_of(url)
        if site is None or site in self.visited or self.session.policy.check_url(url):
            return  # not a site, seen before, or blocked anyway (the action says so)
        guarded.sites.add(site)
        guarded.add("new_domain", f"{lead} {url[:300]}: {site} is a site not visited in this run.")

    def _address(self, name: str, args: dict[str, Any], current: str) -> str | None:
        if name == "web_search":
            return self.settings.search_url.format(query=quote_plus(str(args.get("query", ""))))
        return resolve_address(str(args.get("url") or ""), current)

    # During --------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def acting(self, name: str) -> AsyncIterator[None]:
        """The backstop for one action (see the module docstring)."""
        context = self.session.context
        gate = self.gate
        effects = self.ctx.effects if self.ctx is not None else None
        install = (
            gate is not None
            and context is not None
            and name not in NO_BACKSTOP
            and (
                any(gate.rule(kind) != "allow" for kind in ("submit_form", "new_domain"))
                or (effects is not None and self.posts)  # a form's POST goes out once
            )
        )
        if install:
            assert context is not None
            await context.route("**/*", self._route)
        try:
            yield
        finally:
            if install:
                assert context is not None
                with contextlib.suppress(PlaywrightError):
                    await context.unroute("**/*", self._route)
            self.cleared, self.cleared_sites, self.refused_kinds = set(), set(), set()
            self.remember_sites()

    def take_refused(self) -> list[str]:
        refused, self.refused = self.refused, []
        return refused

    def remember_sites(self) -> None:
        for page in self.session.tabs:
            with contextlib.suppress(PlaywrightError):
                site = site_of(page.url)
                if site is not None:
                    self.visited.add(site)

    async def _route(self, route: Route, request: Request) -> None:
        try:
            held = self._held(request)
        except PlaywrightError:  # a service worker's request, a closed page
            held = None
        if held is None:
            await self._let_through(route, request)
            return
        kind, detail, page, site = held
        # A tab whose navigation is held does not paint: it is shown as it was before.
        fresh = request.resource_type != "document" or self.before_shot is None
        allowed, reason = await self._decide(kind, detail, request.url, page, fresh=fresh)
        if allowed:
            self.cleared.add(kind)
            if site:
                self.cleared_sites.add(site)
            await self._let_through(route, request)
            return
        self.refused_kinds.add(kind)
        what = "go to" if kind == "new_domain" else f"send {request.method}"
        self.refused.append(
            f"The page tried to {what} {request.url[:200]}; it was stopped: not approved "
            f"({kind}): {reason}."
        )
        with contextlib.suppress(PlaywrightError):
            await route.abort("aborted")  # the tab stays on its page (no error page)

    async def _let_through(self, route: Route, request: Request) -> None:
        """A request allowed on: a POST through the run's side-effect journal (once across
        a resume, web_surfer/effects.py), anything else on its way."""
        effects = self.ctx.effects if self.ctx is not None else None
        try:
            journaled = effects is not None and sends_once(request)
        except PlaywrightError:
            journaled = False
        if journaled:
            assert effects is not None
            await send_once(route, request, effects, self.agent, self.refused)
            return
        with contextlib.suppress(PlaywrightError):
            await route.fallback()

    def _held(self, request: Request) -> tuple[str, str, Page, str] | None:
        """What a request the page sends needs approval as, if anything."""
        gate = self.gate
        if gate is None:
            return None
        frame = request.frame
        page = frame.page
        kind = request.resource_type
        after = f"After {self.current or 'the action'}, on {page.url[:300]}: "
        if request.method.upper() == "POST" and kind in ("document", "fetch", "xhr"):
            if "submit_form" in self.cleared or gate.rule("submit_form") == "allow":
                return None
            if kind != "document" and site_of(request.url) != site_of(page.url):
                return None  # a third party's beacon: not the page acting for the user
            sent = request.post_data or ""
            how = "submits a form" if kind == "document" else "sends a request in the background"
            detail = f"{after}the page {how}: POST {request.url[:300]}"
            if sent:
                detail += f"\nwith: {sent[:_DETAIL_CHARS]}"
            return ("submit_form", detail, page, "")
        if kind == "document" and frame.parent_frame is None:
            site = site_of(request.url)
            if (
                site is None
                or site in self.visited
                or site in self.cleared_sites
                or gate.rule("new_domain") == "allow"
                or self.session.policy.check_url(request.url)
            ):
                return None
            detail = f"{after}the page goes to {request.url[:300]}: {site} is a new site."
            return ("new_domain", detail, page, site)
        return None

    async def _decide(
        self, kind: str, detail: str, target: str, page: Page, *, fresh: bool = True
    ) -> tuple[bool, str]:
        """The gate's word on something the page is waiting for, the clocks stopped."""
        gate = self.gate
        if gate is None or kind in self.cleared:
            return True, ""
        if kind in self.refused_kinds:
            return False, "refused earlier in this action"
        async with self.session.holds.hold():
            decision = await gate.check(
                kind,
                self.agent,
                detail,
                target=target,
                attachments=lambda: self._screenshot(
                    kind, None if fresh else self.before_shot, page
                ),
            )
        return decision.allowed, decision.reason

    async def download(self, url: str, name: str) -> str | None:
        """May a download be kept in the workspace? None if so, else why not."""
        gate = self.gate
        if gate is None or "download" in self.cleared or gate.rule("download") == "allow":
            return None
        page = self.session.active
        detail = f"Save the download {name} from {url[:300]} into the workspace"
        detail += f" (after {self.current})." if self.current else "."
        if page is None:
            async with self.session.holds.hold():
                decision = await gate.check("download", self.agent, detail, target=url)
            allowed, reason = decision.allowed, decision.reason
        else:
            allowed, reason = await self._decide("download", detail, url, page)
        return None if allowed else f"not approved (download): {reason}"

    async def _screenshot(
        self, what: str, seen: Observation | None, page: Page | None = None
    ) -> list[Attachment]:
        """The page as the person should see it: the observation's (with its marks) before
        an action, a fresh capture while the page waits."""
        round_ = self.ctx.round if self.ctx is not None else 0
        if seen is not None and seen.screenshot is not None:
            shot = seen.screenshot
            ext = shot.mime.split("/")[-1].replace("jpeg", "jpg")
            return [
                Attachment(name=f"approval-r{round_}-{what}.{ext}", data=shot.data, mime=shot.mime)
            ]
        page = page or self.session.active
        if page is None:
            return []
        try:
            # Short: a tab whose navigation is held does not paint (measured: the capture
            # waits out any timeout); then the page as it was before the action stands in.
            data = await asyncio.wait_for(capture(page, self.session, self.settings), 1.5)
        except (PlaywrightError, asyncio.TimeoutError, TimeoutError):
            return await self._screenshot(what, self.before_shot) if self.before_shot else []
        return [Attachment(name=f"approval-r{round_}-{what}.jpg", data=data, mime="image/jpeg")]


def describe(call_: ToolCall, seen: Observation) -> str:
    """The action in words, with the element's role and name (for approval and the log)."""
    args: dict[str, Any] = dict(call_.arguments)
    target = args.get("target_id")
    what = call_.name.replace("_", " ")
    if target is not None:
        element = seen.state.element(int(target)) if str(target).isdigit() else None
        label = element.describe().split(" value=")[0] if element else f"[{target}]"
        what += f" {label}"
    rest = {k: v for k, v in args.items() if k != "target_id"}
    if rest:
        what += " (" + ", ".join(f"{k}={str(v)[:80]!r}" for k, v in rest.items()) + ")"
    return what


def _verb(call_: ToolCall) -> str:
    return call_.name.replace("_", " ")
