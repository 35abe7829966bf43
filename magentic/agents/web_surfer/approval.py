"""Action approval in the browser: what a WebSurfer action would do, asked before it happens,
and the gate's word on what the page then does on its own, during an action or between them.

**Before** each action (`before`), outside the action's clock, the page is read for what the
action means (action_kinds.py): submitting a form, a login or card field, a new site, an
upload, a download; and every action is `web_action` (what `--step` asks about). The
strictest rule of the action's kinds decides, and a person is asked once, shown the exact
action and the page's screenshot. A no leaves the page untouched: the model is told why.

**Whenever** the page sends a request that is not a read (POST, PUT, PATCH, DELETE; a form,
fetch, XHR or beacon, to any site) or a tab goes to a new site (a redirect hop included),
the session-wide hold (hold.py) waits for `request` / `navigation` here. The rules decide:
allow goes, deny is aborted, ask asks the person if one is present, else no. Every decision
is recorded as a `control_requested` / `control_decided` pair, allows included (by
"policy"). During an action, what the action was cleared for goes without a second
question, and a refusal ends the action at once with "not approved: ..." (`unless_refused`)
instead of leaving it waiting for a request that will never go. Between actions a refusal
is noted for the next observation; the same thing tried again before the next action is
refused without asking or recording it again (a page in a loop). Downloads are held the
same way before they are saved into the workspace. While a decision is awaited, the
action's clocks stop (holds.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from typing import TYPE_CHECKING

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, Request, Route

from magentic.agents.web_surfer.action_kinds import ActionReader, describe
from magentic.agents.web_surfer.actions import ActionResult, Actions
from magentic.agents.web_surfer.browser import BrowserSession
from magentic.agents.web_surfer.domains import site_of, suffix_list
from magentic.agents.web_surfer.effects import send_once, sends_once
from magentic.agents.web_surfer.observe import Observation, capture
from magentic.agents.web_surfer.settings import WebSurferSettings
from magentic.events import Attachment
from magentic.llm.messages import ToolCall

if TYPE_CHECKING:
    from magentic.agents.base import StepContext
    from magentic.control.gate import ApprovalGate

# The order of specificity: of kinds with equally strict rules, the first is asked about.
ORDER = ("login", "submit_form", "upload", "download", "new_domain", "web_action")
# How a held request is described, by its resource type.
_HOW = {
    "document": "submits a form",
    "ping": "sends a beacon",
    "beacon": "sends a beacon",
}
_DETAIL_CHARS = 1000


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
        self.refused: list[str] = []  # what the hold stopped, for the observation
        # New sites a held navigation was allowed to (by the rules or a person): not asked
        # about again in this session.
        self.allowed_sites: set[str] = set()
        # What the hold refused since the last action, and how often it was tried.
        self.refused_between: dict[tuple[str, str], int] = {}
        # While an action runs: set when the hold refuses something, which ends the action.
        self._refusal: asyncio.Future[str] | None = None
        self.before_shot: Observation | None = None  # the latest observation with a shot
        session.approvals = self
        self.reader = ActionReader(session, settings, self.visited)

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
        self.current = describe(call_, seen)
        self.saw(seen)
        gate = self.gate
        if gate is None:
            return None
        guarded = await self.reader.classify(call_, actions)
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

    # During and between actions ------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def acting(self, name: str) -> AsyncIterator[None]:
        """An action is under way: what the hold (hold.py) refuses in it ends it at once
        (`unless_refused`); what it was cleared for goes without a second question."""
        self._refusal = asyncio.get_running_loop().create_future()
        self.refused_between.clear()
        try:
            yield
        finally:
            self._refusal = None
            self.cleared, self.cleared_sites, self.refused_kinds = set(), set(), set()
            self.remember_sites()

    async def unless_refused(
        self, work: Awaitable[ActionResult], name: str, page: Page
    ) -> ActionResult:
        """The action's result; or, as soon as the hold refuses something the page tried
        during it, the action stopped with "not approved" (the page would otherwise wait
        for a request that will never go, until the action's deadline)."""
        task = asyncio.ensure_future(work)
        refusal = self._refusal
        if refusal is None:
            return await task
        try:
            await asyncio.wait({task, refusal}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            raise
        if not refusal.done():
            return task.result()
        what = f"not approved: {refusal.result()}"
        if task.done():
            result = task.result()
            result.error = result.error or what
            return result
        task.cancel()
        await asyncio.wait({task}, timeout=2)
        if not task.done():
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
        elif not task.cancelled():
            task.exception()  # ended with the stop: not news
        await self.session.stop_loading(page)
        return ActionResult(
            f"Stopped {name.replace('_', ' ')}: the page tried something.", error=what
        )

    def take_refused(self) -> list[str]:
        refused, self.refused = self.refused, []
        return refused

    def remember_sites(self) -> None:
        for page in self.session.tabs:
            with contextlib.suppress(PlaywrightError):
                site = site_of(page.url)
                if site is not None:
                    self.visited.add(site)

    async def let_through(self, route: Route, request: Request) -> None:
        """A request the hold allowed on: a POST through the run's side-effect journal (once
        across a resume, effects.py), anything else on its way."""
        effects = self.ctx.effects if self.ctx is not None else None
        try:
            journaled = effects is not None and sends_once(request)
        except PlaywrightError:  # a service worker's request, a closed page
            journaled = False
        if journaled:
            assert effects is not None
            await send_once(route, request, effects, self.agent, self.refused)
            return
        with contextlib.suppress(PlaywrightError):
            await route.fallback()

    async def request(self, page: Page | None, request: Request) -> bool:
        """May a request that is not a read (POST, PUT, PATCH, DELETE...) go, whatever its
        type and site? Every answer is recorded."""
        if self.gate is None:
            return True
        method = request.method.upper()
        how = _HOW.get(request.resource_type, "sends a request in the background")
        detail = f"{self._when(page)}the page {how}: {method} {request.url[:300]}"
        try:
            sent = (request.post_data_buffer or b"").decode("utf-8", "replace")
        except PlaywrightError:
            sent = ""
        if sent:
            detail += f"\nwith: {sent[:_DETAIL_CHARS]}"
        fresh = request.resource_type != "document" or self.before_shot is None
        what = f"to send {method} {request.url[:200]}"
        return await self._judge("submit_form", detail, request.url, page, what, fresh=fresh)

    async def navigation(self, page: Page | None, url: str, *, redirect: bool) -> bool:
        """May a tab's top-level document load `url` (a redirect hop included)? Only a new
        site is a question; every answer to one is recorded."""
        if self.gate is None:
            return True
        site = site_of(url)
        if (
            site is None
            or site in self.visited
            or site in self.allowed_sites
            or self.session.policy.check_url(url)  # blocked anyway (the proxy says so)
        ):
            return True
        how = "is redirected" if redirect else "goes"
        detail = f"{self._when(page)}the page {how} to {url[:300]}: {site} is a new site."
        what = f"to {'be redirected' if redirect else 'go'} to {url[:200]}"
        fresh = self.before_shot is None
        return await self._judge("new_domain", detail, url, page, what, fresh=fresh, site=site)

    def _when(self, page: Page | None) -> str:
        where = ""
        with contextlib.suppress(PlaywrightError):
            where = f", on {page.url[:300]}" if page is not None else ", in a worker"
        if self._refusal is not None:
            return f"After {self.current or 'the action'}{where}: "
        return f"Between actions{where}: "

    async def _judge(
        self,
        kind: str,
        detail: str,
        target: str,
        page: Page | None,
        what: str,
        *,
        fresh: bool,
        site: str = "",
    ) -> bool:
        """The gate's word on what the page tried, recorded, the clocks stopped meanwhile.
        During an action, what the action was cleared for goes; a refusal ends it."""
        gate = self.gate
        assert gate is not None
        acting = self._refusal is not None
        again = (kind, target)
        if not acting and again in self.refused_between:
            # The same thing tried again between actions (a page in a loop): refused as
            # before, counted, not asked or recorded once more.
            self.refused_between[again] += 1
            return False
        if acting and (kind in self.cleared or (site and site in self.cleared_sites)):
            why = f"allowed with the action under way ({self.current[:200]})"
            decision = gate.channel.record_policy(
                self.agent, kind, detail, target=target, allowed=True, reason=why
            )
        elif acting and kind in self.refused_kinds:
            decision = gate.channel.record_policy(
                self.agent,
                kind,
                detail,
                target=target,
                allowed=False,
                reason="refused earlier in this action",
            )
        else:
            async with self.session.holds.hold():
                decision = await gate.check(
                    kind,
                    self.agent,
                    detail,
                    target=target,
                    record=True,
                    attachments=lambda: self._screenshot(
                        kind, None if fresh else self.before_shot, page
                    ),
                )
        if decision.allowed:
            if site:
                self.allowed_sites.add(site)
            return True
        note = f"The page tried {what}; it was stopped: not approved ({kind}): {decision.reason}."
        if self._refusal is None:
            self.refused_between[again] = 1
            self.session.notes.append(f"Between actions: {note}")
            return False
        self.refused_kinds.add(kind)
        self.refused.append(note)
        if not self._refusal.done():
            self._refusal.set_result(f"the page tried {what} ({kind}: {decision.reason})")
        return False

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


def _verb(call_: ToolCall) -> str:
    return call_.name.replace("_", " ")
