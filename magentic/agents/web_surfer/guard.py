"""A deadline on every action, so one hostile page cannot hold the run.

A page can hang the agent without any error: `while (true) {}` blocks its renderer, so every
`evaluate` waits forever; a 50 MB DOM takes minutes to walk; a dialog loop answers itself
forever. `PageGuard` runs each action, and the observation after it, against one clock
(`[web] action_deadline_s`) and stops early when the page runs away (`ActionLimits`). When
time is up the tab is stopped and closed; a renderer that does not let it close is crashed
on purpose (CDP `Page.crash` runs on the renderer's IO thread, so a busy main thread cannot
block it); a blank tab takes its place, and the model is told what happened and where
it was.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Coroutine
from typing import Any, TypeVar

from playwright.async_api import Page

from magentic.agents.web_surfer.actions import ActionResult
from magentic.agents.web_surfer.browser import BrowserSession
from magentic.agents.web_surfer.observe import Observation, PageState, observe, render
from magentic.agents.web_surfer.settings import WebSurferSettings

T = TypeVar("T")

# Time left for the observation of the blank tab that replaced a runaway page.
_AFTER_S = 4.0


class Expired(Exception):
    """The page ran past the deadline or its limits; `str()` says how."""


class PageGuard:
    """Runs actions and observations of one session under the per-action deadline."""

    def __init__(self, session: BrowserSession, settings: WebSurferSettings) -> None:
        self.session = session
        self.settings = settings
        self._ends: float | None = None  # when the current action's time is up
        # Time the page spent waiting for a person's decision (holds.py) is not counted.
        self._held_base = 0.0
        self.notes: list[str] = []  # what the latest observation reported (for the reply)

    def _start(self) -> None:
        self._ends = asyncio.get_running_loop().time() + self.settings.action_deadline_s
        self._held_base = self.session.holds.held_s
        self.session.limits.reset()

    async def act(
        self, work: Coroutine[Any, Any, ActionResult], what: str, *, budget_s: float | None = None
    ) -> ActionResult:
        """Run one action (its result, or an error saying the page was replaced)."""
        self._start()
        if budget_s is not None:
            self._ends = asyncio.get_running_loop().time() + budget_s
        page = self.session.active
        try:
            result = await self._bounded(work)
        except Expired as why:
            told = await self._replace(page, str(why))
            self._ends = asyncio.get_running_loop().time() + _AFTER_S  # for its observation
            self.session.notes += self.session.limits.notes()
            self.session.limits.reset()
            return ActionResult(f"Could not {what}.", error=told)
        if page is not None and await self.session.downloads.fetch_viewed(page):
            result.summary += " It showed a document in the browser's viewer; it was downloaded."
            with contextlib.suppress(Expired):
                await self._bounded(self.session.wait_downloads(self._left()))
        texts = self.session.downloads.take_texts()
        if texts:
            result.content = f"{result.content}\n\n{texts}" if result.content else texts
        return result

    async def observe(self, *, screenshot: bool, notes: list[str]) -> Observation:
        """Observe the active page; on a new clock unless an action's clock is running."""
        if self._ends is None:
            self._start()
        try:
            page = await self.session.ready_page()
            try:
                return await self._bounded(self._observe(page, screenshot, notes), _AFTER_S)
            except Expired as why:
                notes = [*notes, await self._replace(page, str(why))]
            page = await self.session.ready_page()
            try:
                return await asyncio.wait_for(self._observe(page, screenshot, notes), _AFTER_S)
            except (TimeoutError, asyncio.TimeoutError):
                return self._bare(page, notes)
        finally:
            self._ends = None

    def _observe(self, page: Page, screenshot: bool, notes: list[str]) -> Awaitable[Observation]:
        session = self.session
        notes = notes + session.limits.notes() + session.take_notes()
        self.notes = notes
        return observe(session, page, self.settings, screenshot=screenshot, notes=notes)

    def _bare(self, page: Page, notes: list[str]) -> Observation:
        self.notes = notes
        state = PageState.blank(page.url)
        s = self.settings
        text = render(
            state, tabs=[], notes=notes, budget=s.observation_chars, max_elements=s.max_elements
        )
        return Observation(state, text, None, 0.0)

    def _left(self, floor: float = 0.0) -> float:
        if self._ends is None:
            return self.settings.action_deadline_s
        held = self.session.holds.held_s - self._held_base
        return max(self._ends + held - asyncio.get_running_loop().time(), floor)

    async def _bounded(self, work: Awaitable[T], floor: float = 0.0) -> T:
        """`work`'s result, unless the clock runs out (leaving it at least `floor` seconds)
        or the page runs away first."""
        task = asyncio.ensure_future(work)
        tripped = asyncio.ensure_future(self.session.limits.tripped.wait())
        holds = self.session.holds
        try:
            while True:
                # While a decision is awaited the clock stands still; its end is looked at
                # again whenever a hold begins or ends.
                change = asyncio.ensure_future(holds.changed().wait())
                timeout = None if holds.active else self._left(floor)
                try:
                    done, _ = await asyncio.wait(
                        {task, tripped, change},
                        timeout=timeout,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    change.cancel()
                if task in done or tripped in done or not done:
                    break
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            tripped.cancel()
        if task in done:
            return task.result()
        task.cancel()
        # The work stops at its next await; a call stuck in a hung page is aborted.
        await asyncio.wait({task}, timeout=2)
        if not task.done():
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
        elif not task.cancelled():
            task.exception()  # retrieved: it ended with the page, and is not news
        reason = self.session.limits.reason
        if reason:
            raise Expired(reason)
        raise Expired(f"it did not respond within {self.settings.action_deadline_s:g} s")

    async def _replace(self, page: Page | None, why: str) -> str:
        """Stop a runaway page, kill its renderer if it hangs, and put a blank tab in its
        place. Returns what the model is told."""
        session = self.session
        url = page.url if page is not None and not page.is_closed() else ""
        if page is not None and not page.is_closed():
            if await _responsive(page):
                await session.stop_loading(page)
            else:
                await _close_or_crash(session, page)
            await session.replace_tab(page)
        else:
            await session.ready_page()
        where = f"The page {url[:200]}" if url else "The page"
        return (
            f"{where} was stopped because {why}; its tab was closed and replaced by a blank "
            "one. Do not open it again: try another page or report what you have."
        )


async def _responsive(page: Page) -> bool:
    """Does the page's renderer still run scripts (quickly)?"""
    try:
        await asyncio.wait_for(page.evaluate("1"), 0.5)
        return True
    except Exception:  # a timeout, a closed or crashed page: all mean no
        return False


async def _close_or_crash(session: BrowserSession, page: Page) -> None:
    """Close a hung page; crash its renderer only if closing does not work. Closing comes
    first: Chromium can go down with a renderer crashed in the middle of a large load."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(page.close(run_before_unload=False), 2)
    if not page.is_closed():
        await _crash(session, page)


async def _crash(session: BrowserSession, page: Page) -> None:
    """Kill a hung renderer: `Page.crash` never answers, so it is sent, not awaited."""
    if session.context is None:
        return
    crashed = asyncio.Event()
    page.on("crash", lambda _: crashed.set())
    try:
        cdp = await asyncio.wait_for(session.cdp(page), 2)
    except Exception:
        return
    sent = asyncio.ensure_future(cdp.send("Page.crash"))
    sent.add_done_callback(lambda t: t.cancelled() or t.exception())
    with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
        await asyncio.wait_for(crashed.wait(), 3)
    sent.cancel()
