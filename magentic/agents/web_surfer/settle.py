"""Waiting for a page to settle after an action, without fixed sleeps.

An action may start a navigation (a link, a submit, a script), fetch content late, or just
change the DOM. `ActionWatch` listens to the page while the action runs; `settle` then waits
for exactly what happened: the navigation to commit and load, the requests the action
started to finish (in any frame), and the DOM to be quiet for a short window (the clock of
the page-side module, page.js, in every document). Each wait is bounded, so an
animated or chatty page costs at most `settle_max_ms`.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import Any

from playwright.async_api import CDPSession, Download, Frame, Page, Request, Response
from playwright.async_api import Error as PlaywrightError

from magentic.agents.web_surfer.page_module import call, page_script

# The page-side module (page.js) keeps a clock of the last content change in every
# document from its start, so the quiet wait knows how long the page has already been quiet.
# browser.py registers it as the context's init script under this name.
CLOCK_INIT_SCRIPT = page_script()

_ANNOUNCED_WAIT_S = 1.0

# Requests worth waiting for: they bring content. Images, media, fonts and beacons are not.
_CONTENT_TYPES = {"document", "fetch", "xhr", "script", "stylesheet"}


class ActionWatch:
    """What one page did while an action ran: navigations, late requests, downloads."""

    def __init__(
        self, page: Page, cdp: CDPSession | None = None, main_frame: str | None = None
    ) -> None:
        self.page = page
        self.cdp = cdp
        self.main_frame = main_frame
        # Main-frame navigations the page asked for (a submit, a link, a script). Chromium
        # says so before the input action returns, while the request itself may come tens
        # of milliseconds later: this closes the gap without a guessed grace period.
        self.requested = 0
        self.navigations = 0  # main-frame navigation requests seen
        self.commits = 0  # main-frame documents committed
        self.failures: list[str] = []  # main-frame navigations that failed (error text)
        self.downloads = 0
        self.navigation_urls: list[str] = []  # main-frame requests, redirect hops included
        self.status: int | None = None  # HTTP status of the last main-frame document
        self.inflight: set[Request] = set()
        self.started = 0.0  # when the action began (the event loop's clock)
        self._changed = asyncio.Event()  # set on every event; waits re-check their condition

    def __enter__(self) -> ActionWatch:
        self.started = asyncio.get_running_loop().time()
        self.page.on("request", self._on_request)
        self.page.on("requestfinished", self._on_done)
        self.page.on("requestfailed", self._on_failed)
        self.page.on("framenavigated", self._on_navigated)
        self.page.on("download", self._on_download)
        self.page.on("response", self._on_response)
        if self.cdp is not None:
            self.cdp.on("Page.frameRequestedNavigation", self._on_requested)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for event, handler in (
            ("request", self._on_request),
            ("requestfinished", self._on_done),
            ("requestfailed", self._on_failed),
            ("framenavigated", self._on_navigated),
            ("download", self._on_download),
            ("response", self._on_response),
        ):
            with contextlib.suppress(Exception):
                self.page.remove_listener(event, handler)
        if self.cdp is not None:
            with contextlib.suppress(Exception):
                self.cdp.remove_listener("Page.frameRequestedNavigation", self._on_requested)

    def _on_requested(self, params: dict[str, Any]) -> None:
        if params.get("frameId") == self.main_frame and params.get("disposition") in (
            None,
            "currentTab",
        ):
            self.requested += 1
            self._changed.set()

    def _main_frame_navigation(self, request: Request) -> bool:
        try:
            return request.is_navigation_request() and request.frame == self.page.main_frame
        except PlaywrightError:
            return False

    def _on_request(self, request: Request) -> None:
        if self._main_frame_navigation(request):
            if request.redirected_from is None:
                self.navigations += 1
            self.navigation_urls.append(request.url)
        if request.resource_type in _CONTENT_TYPES:
            self.inflight.add(request)
        self._changed.set()

    def _on_done(self, request: Request) -> None:
        self.inflight.discard(request)
        self._changed.set()

    def _on_failed(self, request: Request) -> None:
        self.inflight.discard(request)
        if self._main_frame_navigation(request):
            self.failures.append(request.failure or "the navigation failed")
        self._changed.set()

    def _on_response(self, response: Response) -> None:
        if self._main_frame_navigation(response.request):
            self.status = response.status

    def _on_navigated(self, frame: Frame) -> None:
        if frame == self.page.main_frame:
            self.commits += 1
            self._changed.set()

    def _on_download(self, download: Download) -> None:
        self.downloads += 1
        self._changed.set()

    def navigating(self) -> bool:
        """A main-frame navigation started and has neither committed nor failed."""
        return self.navigations > self.commits + len(self.failures) + self.downloads

    def announced(self) -> bool:
        """A navigation was asked for whose request has not shown up yet."""
        return self.requested > self.navigations

    async def wait_for(self, condition: str, timeout_s: float) -> bool:
        """Wait until `condition` holds, at most `timeout_s`: "navigated" (no navigation
        under way), "started" (every asked-for navigation has sent its request) or "idle"
        (no late request in flight)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + max(timeout_s, 0)
        checks = {
            "navigated": lambda: not self.navigating(),
            "started": lambda: not self.announced(),
            "idle": lambda: not self.inflight,
        }
        while True:
            done = checks[condition]()
            if done:
                return True
            left = end - loop.time()
            if left <= 0:
                return False
            self._changed.clear()
            with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)


async def settle(
    page: Page,
    watch: ActionWatch,
    *,
    quiet_ms: int,
    max_ms: int,
    navigation_timeout_s: float,
) -> None:
    """Return once the page has finished reacting to the action (or the bounds ran out)."""
    loop = asyncio.get_running_loop()
    settle_started = loop.time()
    deadline = settle_started + max_ms / 1000
    seen_commits = 0
    for _ in range(6):  # a navigation may lead to another (a script redirect, say)
        # Bounded: an asked-for navigation can still be cancelled (or be same-document).
        if watch.announced() and not await watch.wait_for("started", _ANNOUNCED_WAIT_S):
            watch.requested = watch.navigations
        if watch.navigating():
            await watch.wait_for("navigated", navigation_timeout_s)
            deadline = max(deadline, loop.time() + max_ms / 1000)  # a new document's budget
        if watch.commits > seen_commits:
            seen_commits = watch.commits
            with contextlib.suppress(PlaywrightError):
                await page.wait_for_load_state(
                    "domcontentloaded", timeout=navigation_timeout_s * 1000
                )
            left = deadline - loop.time()
            if left > 0:
                with contextlib.suppress(PlaywrightError):
                    await page.wait_for_load_state("load", timeout=left * 1000)
        left_ms = int((deadline - loop.time()) * 1000)
        if left_ms <= 0:
            return
        try:
            since_ms = int((loop.time() - settle_started) * 1000)
            action_ms = int((loop.time() - watch.started) * 1000)
            await _quiet(page, quiet_ms, left_ms, since_ms, action_ms)
        except PlaywrightError as error:
            text = str(error).lower()
            if "destroyed" in text or "navigat" in text:
                continue  # the document was replaced while we watched it
            return  # a crashed or closed page: the caller finds out and reports
        if watch.announced() or watch.navigating() or watch.commits > seen_commits:
            continue
        if not watch.inflight:
            return
        if not await watch.wait_for("idle", deadline - loop.time()):
            return
        # The late requests finished: give their content one more quiet window.


# Frames whose quiet is waited for too (a click inside a frame changes that frame).
_QUIET_FRAMES = 10


async def _quiet(page: Page, quiet_ms: int, left_ms: int, since_ms: int, action_ms: int) -> None:
    """The top document quiet (its errors are the caller's), and with it the first frames;
    a frame that fails or hangs is not waited for."""
    args = (quiet_ms, left_ms, since_ms, action_ms)
    frames = [f for f in page.frames[1 : _QUIET_FRAMES + 1] if not f.is_detached()]
    if not frames:
        await call(page.main_frame, "quiet", *args)
        return
    results = await asyncio.gather(
        call(page.main_frame, "quiet", *args),
        *(_frame_quiet(f, args, left_ms / 1000 + 0.5) for f in frames),
        return_exceptions=True,
    )
    if isinstance(results[0], BaseException):
        raise results[0]


async def _frame_quiet(frame: Frame, args: tuple[int, ...], limit_s: float) -> None:
    with contextlib.suppress(PlaywrightError, asyncio.TimeoutError, TimeoutError):
        await asyncio.wait_for(call(frame, "quiet", *args), limit_s)
