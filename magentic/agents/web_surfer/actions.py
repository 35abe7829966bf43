"""The browser actions behind the WebSurfer's tools, and how their failures are reported.

Every action runs inside an `ActionWatch` and ends with `settle`, so the observation that
follows shows the page after it reacted. A failure the model can do something about (no
such element, a timeout, a blocked address, an HTTP error) comes back as text in
`ActionResult.error`, never as an exception; a crashed page is noted and brought back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from playwright.async_api import ElementHandle, Frame, Page
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout

from magentic.agents.tools import BadToolArguments, NoArgs, ToolRegistry, UnknownTool, tool
from magentic.agents.web_surfer.address import resolve_address
from magentic.agents.web_surfer.browser import BrowserSession, first_line
from magentic.agents.web_surfer.frames import FRAME_TIMEOUT_S, MAX_FRAMES
from magentic.agents.web_surfer.page_module import call, call_on, ids_of, resolve
from magentic.agents.web_surfer.settings import WebSurferSettings
from magentic.agents.web_surfer.settle import ActionWatch, settle
from magentic.agents.web_surfer.tool_args import (
    Choose,
    Find,
    Keys,
    Query,
    Scroll,
    Tab,
    Target,
    TypeText,
    Upload,
    Url,
    Wait,
)

log = logging.getLogger(__name__)


class ActionProblem(Exception):
    """A problem the model can act on; its text becomes the observation's error line."""


@dataclass
class ActionResult:
    summary: str  # what was done, one line
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    # Content that answers by itself (read_page, answer_question): shown before the page.
    content: str | None = None


class Actions:
    """One session's actions; `run` is the single entry point."""

    def __init__(
        self,
        session: BrowserSession,
        settings: WebSurferSettings,
        *,
        workspace: Path,
        files: list[Path] | None = None,
    ) -> None:
        self.session = session
        self.settings = settings
        self.workspace = Path(workspace)
        self.files = list(files or [])
        self.tools: ToolRegistry[ActionResult] = ToolRegistry.of(self)
        self.page: Page | None = None  # the active page while an action runs
        self._finding: tuple[str, int] | None = None  # find_on_page's text and match

    async def run(self, name: str, args: dict[str, Any] | None = None) -> ActionResult:
        """Run the tool `name`: validated arguments, then the action, then settling."""
        try:
            action = self.tools.get(name)
            parsed = action.parse(args)
        except (UnknownTool, BadToolArguments) as error:
            return ActionResult(f"Did not run {name}.", error=error.reason)
        page = await self.session.ready_page()
        if self.settings.draw_marks_on_page():
            with contextlib.suppress(PlaywrightError):
                await call(page.main_frame, "clearMarks")
        approvals = self.session.approvals
        if approvals is None:
            return await self._run(name, action, parsed, page)
        async with approvals.acting(name):  # what the hold refuses ends it (approval.py)
            result = await approvals.unless_refused(
                self._run(name, action, parsed, page), name, page
            )
        result.notes += approvals.take_refused()
        return result

    async def _run(self, name: str, action: Any, parsed: Any, page: Page) -> ActionResult:
        downloads_before = len(self.session.downloaded)
        holds = self.session.holds
        cdp = None
        with contextlib.suppress(PlaywrightError):
            cdp = await self.session.cdp(page)  # announced popups and navigations
        opens, popups = self.session.window_opens, self.session.popups
        with ActionWatch(page, cdp, self.session.main_frame_id(page)) as watch:
            try:
                self.page = page
                result: ActionResult = await action.handler(parsed)
            except ActionProblem as problem:
                result = ActionResult(f"Could not {_verb(name)}.", error=str(problem))
            except PlaywrightTimeout as error:
                result = ActionResult(f"Could not {_verb(name)}.", error=_timeout_text(error))
            except PlaywrightError as error:
                if self.session.crashed(page):
                    result = ActionResult(f"Could not {_verb(name)}.", error="the page crashed")
                else:
                    result = ActionResult(f"Could not {_verb(name)}.", error=first_line(error))
            except Exception as error:  # a fault of the tool itself, not of its arguments
                log.exception("the %s action failed", name)
                result = ActionResult(
                    f"Could not {_verb(name)}.",
                    error=f"the {name} tool failed ({type(error).__name__}: {first_line(error)})",
                )
            settled = -1
            while not self.session.crashed(page) and settled != holds.started:
                # A request held for a person's decision (approval.py): once it is decided,
                # the page reacts to it, and that is waited for like the action itself.
                await holds.drain()
                settled = holds.started
                await settle(
                    page,
                    watch,
                    quiet_ms=self.settings.settle_quiet_ms,
                    max_ms=self.settings.settle_max_ms,
                    navigation_timeout_s=self.settings.navigation_timeout_s,
                )
        announced = self.session.window_opens - opens
        if announced:
            await self.session.wait_popups(popups + announced, self.settings.action_timeout_s)
        await self._settle_new_tab(page)
        if watch.downloads:
            await self.session.wait_downloads(self.settings.navigation_timeout_s)
            if holds.active:  # a download held for a person's decision: it, then the file
                await holds.drain()
                await self.session.wait_downloads(self.settings.navigation_timeout_s)
        result.files += self.session.downloaded[downloads_before:]
        result.notes += self._navigation_notes(watch)
        if self.session.crashed(page):
            await self.session.ready_page()  # reopen now, so the observation shows a page
        self.session.remember()
        return result

    async def _settle_new_tab(self, old: Page) -> None:
        """A popup or new tab opened during the action: wait for it like for a navigation."""
        page = self.session.active
        if page is None or page is old or page.is_closed():
            return
        with contextlib.suppress(PlaywrightError):
            await page.wait_for_load_state(
                "domcontentloaded", timeout=self.settings.navigation_timeout_s * 1000
            )
        with ActionWatch(page) as watch:
            await settle(
                page,
                watch,
                quiet_ms=self.settings.settle_quiet_ms,
                max_ms=self.settings.settle_max_ms,
                navigation_timeout_s=self.settings.navigation_timeout_s,
            )

    def _navigation_notes(self, watch: ActionWatch) -> list[str]:
        notes = []
        for url in watch.navigation_urls:
            reason = self.session.explain(url)
            if reason:
                notes.append(reason)
        for failure in watch.failures:
            # Aborted: replaced by another navigation, or stopped by the approval gate
            # (approval.py notes that itself).
            if "ERR_ABORTED" not in failure and "BLOCKED_BY_CLIENT" not in failure and not notes:
                notes.append(f"The page did not load ({failure}).")
        if watch.status and watch.status >= 400:
            notes.append(f"The server answered HTTP {watch.status}.")
        return notes

    # Elements ----------------------------------------------------------------------------
    async def element(self, page: Page, target_id: int, *, control: bool = False) -> ElementHandle:
        """The element the model means by `target_id`, in whichever frame it lives."""
        handle = None
        place = ids_of(page).place(int(target_id))
        if place is not None:
            frame, local_id = place
            with contextlib.suppress(PlaywrightError):
                handle = await resolve(frame, local_id, control=control)
        element = handle.as_element() if handle is not None else None
        if element is None:
            if handle is not None:
                await handle.dispose()
            raise ActionProblem(
                f"there is no element [{target_id}] on the page now; use an id from the latest list"
            )
        return element

    # Navigation --------------------------------------------------------------------------
    def _page(self) -> Page:
        assert self.page is not None, "actions run through Actions.run"
        return self.page

    @tool("visit_url", "Open a web address.")
    async def visit_url(self, a: Url) -> ActionResult:
        page = self._page()
        url = self._address(a.url, page.url)
        await self._goto(page, url)
        return ActionResult(f"Opened {url}.")

    def _address(self, url: str, current: str) -> str:
        resolved = resolve_address(url, current)
        if resolved is None:
            raise ActionProblem(f"{url.strip()!r} is not a web address; use web_search to search")
        return resolved

    @tool("web_search", "Search the web.")
    async def web_search(self, a: Query) -> ActionResult:
        url = self.settings.search_url.format(query=quote_plus(a.query))
        await self._goto(self._page(), url)
        return ActionResult(f"Searched the web for {a.query!r}.")

    async def _goto(self, page: Page, url: str) -> None:
        """Open `url`; a failure leaves the previous page (and its history) as it was."""
        reason = self.session.policy.check_url(url)
        if reason:
            raise ActionProblem(f"{url} was not opened: blocked by the URL policy ({reason})")
        before = page.url
        try:
            response = await page.goto(url, wait_until="commit")
        except PlaywrightError as error:
            text = first_line(error)
            if "interrupted by another navigation" in text or "Download is starting" in text:
                return  # a redirect by script, an error page or a download: settle follows it
            if isinstance(error, PlaywrightTimeout):
                await self.session.stop_loading(page)  # else Chromium keeps waiting (guard.py)
            await self._back_from_error(page, before, failed_url=url)
            raise ActionProblem(
                self.session.explain(url) or f"{url} did not load: {text}"
            ) from None
        if response is not None and response.status in (502, 504):
            reason = self.session.explain(url)  # our proxy could not reach the server
            if reason:
                await self._back_from_error(page, before, proxy_page=True)
                raise ActionProblem(reason)

    async def _back_from_error(
        self, page: Page, before: str, *, proxy_page: bool = False, failed_url: str = ""
    ) -> None:
        """An error page was committed in place of the page we were on: step back to it.
        Chromium names an error page either `chrome-error:` or the address that failed."""
        failed = (
            proxy_page
            or page.url.startswith("chrome-error:")
            or (bool(failed_url) and page.url == failed_url)
        )
        if failed and before not in ("", "about:blank") and page.url != before:
            for attempt in range(3):
                try:
                    await page.go_back(wait_until="commit")
                    return
                except PlaywrightError as error:
                    # The error page moves the tab to another renderer process; while that
                    # swap is under way the page is briefly "not attached": wait, then again.
                    if "Not attached" not in str(error) or attempt == 2:
                        return
                with contextlib.suppress(PlaywrightError):
                    await page.wait_for_load_state("domcontentloaded", timeout=1000)

    @tool("history_back", "Go back a page.")
    async def history_back(self, a: NoArgs) -> ActionResult:
        page = self._page()
        before = page.url
        response = await page.go_back(wait_until="commit")
        if response is None and page.url == before:
            raise ActionProblem("there is no earlier page in this tab")
        return ActionResult("Went back to the previous page.")

    @tool("refresh", "Reload.")
    async def refresh(self, a: NoArgs) -> ActionResult:
        await self._page().reload(wait_until="commit")
        return ActionResult("Reloaded the page.")

    # Element actions ---------------------------------------------------------------------
    async def _point(
        self, page: Page, element: ElementHandle, target_id: int
    ) -> tuple[float, float] | None:
        """Where to use the mouse, in the page's coordinates (through the frames the element
        is in); None: let Playwright find the place (when something is in the way)."""
        point = await call_on(element, "point")
        if point and point.get("disabled"):
            raise ActionProblem(f"[{target_id}] is disabled")
        if not point:
            return None
        x, y = point["x"], point["y"]
        frame = await element.owner_frame()
        while frame is not None and frame.parent_frame is not None:
            holder = await frame.frame_element()
            try:
                outer = await call_on(holder, "framePoint", x, y)
            finally:
                await holder.dispose()
            if not outer.get("ok"):
                return None  # the frame is covered there, or out of reach
            x, y, frame = outer["x"], outer["y"], frame.parent_frame
        return (x, y)

    @tool("click", "Click an element.")
    async def click(self, a: Target) -> ActionResult:
        page = self._page()
        element = await self.element(page, a.target_id)
        point = await self._point(page, element, a.target_id)
        if point:
            await page.mouse.click(*point)
        else:
            await element.click()
        return ActionResult(f"Clicked [{a.target_id}].")

    @tool("input_text", "Replace an input's text; submit=true presses Enter.")
    async def input_text(self, a: TypeText) -> ActionResult:
        page = self._page()
        element = await self.element(page, a.target_id, control=True)
        tag = await element.evaluate("el => el.tagName.toLowerCase()")
        if tag == "select":
            raise ActionProblem(f"[{a.target_id}] is a drop-down list; use select_option")
        if await call_on(element, "focusText"):
            # Typed like a paste: real input events, no waiting for animation frames.
            if a.text:
                await page.keyboard.insert_text(a.text)
            else:
                await page.keyboard.press("Delete")
        else:
            await element.fill(a.text)
            await element.focus()
        if a.submit:
            await page.keyboard.press("Enter")
        done = "Typed" + (" and submitted" if a.submit else "")
        return ActionResult(f"{done} {a.text[:80]!r} into [{a.target_id}].")

    @tool("select_option", "Choose a drop-down option by its text.")
    async def select_option(self, a: Choose) -> ActionResult:
        element = await self.element(self._page(), a.target_id, control=True)
        options = await element.evaluate(
            "el => el.options ? Array.from(el.options).map(o => [o.text.trim(), o.value]) : null"
        )
        if options is None:
            raise ActionProblem(f"[{a.target_id}] is not a drop-down list; click it to open it")
        index = _pick(options, a.option.strip())
        if index is None:
            names = ", ".join(text for text, _ in options[:20])
            raise ActionProblem(f"[{a.target_id}] has no option {a.option!r}; its options: {names}")
        await element.select_option(index=index)
        return ActionResult(f"Selected {options[index][0]!r} in [{a.target_id}].")

    @tool("press_key", "Press keys: Enter, Escape, Control+A...")
    async def press_key(self, a: Keys) -> ActionResult:
        await self._page().keyboard.press(a.keys.strip())
        return ActionResult(f"Pressed {a.keys.strip()}.")

    @tool("hover", "Hover over an element.")
    async def hover(self, a: Target) -> ActionResult:
        page = self._page()
        element = await self.element(page, a.target_id)
        point = await self._point(page, element, a.target_id)
        if point:
            await page.mouse.move(*point)
        else:
            await element.hover()
        return ActionResult(f"Hovered over [{a.target_id}].")

    @tool("scroll", "Scroll the page, or the scrollable area target_id.")
    async def scroll(self, a: Scroll) -> ActionResult:
        page = self._page()
        sign = -1 if a.direction == "up" else 1
        if a.target_id is not None:
            moved = await call_on(await self.element(page, a.target_id), "scroll", sign)
        else:
            moved = await call(page.main_frame, "scroll", None, sign)
        where = f"[{a.target_id}]" if a.target_id is not None else "the page"
        if moved == 0:
            edge = "top" if sign < 0 else "bottom"
            return ActionResult(f"Did not scroll {where}: it is already at the {edge}.")
        return ActionResult(f"Scrolled {where} {a.direction}.")

    @tool("upload_file", "Upload a workspace file.")
    async def upload_file(self, a: Upload) -> ActionResult:
        page = self._page()
        file = self.task_file(a.path)
        upload = await asyncio.to_thread(  # a private copy, read without links (safe_fs)
            self.session.pool.shared_copy, file, self.workspace.resolve()
        )
        element = await self.element(page, a.target_id, control=True)
        is_file_input = await element.evaluate("el => el.tagName === 'INPUT' && el.type === 'file'")
        if is_file_input:
            await element.set_input_files(upload)
        else:
            async with page.expect_file_chooser() as chooser:
                await element.click()
            await (await chooser.value).set_files(upload)
        return ActionResult(f"Chose {file.name} for upload in [{a.target_id}].")

    @tool("download", "Click to download a file.")
    async def download(self, a: Target) -> ActionResult:
        page = self._page()
        element = await self.element(page, a.target_id)
        timeout = self.settings.navigation_timeout_s * 1000
        try:
            async with page.expect_download(timeout=timeout):
                await element.click()
        except PlaywrightTimeout:
            raise ActionProblem(f"clicking [{a.target_id}] did not start a download") from None
        return ActionResult(f"Downloaded the file behind [{a.target_id}].")

    # Tabs --------------------------------------------------------------------------------
    @tool("tab", "Open (at url), switch to or close a tab.")
    async def tab(self, a: Tab) -> ActionResult:
        session = self.session
        if a.action == "open":
            current = self._page().url
            new = await session.new_page()
            if a.url:
                await self._goto(new, self._address(a.url, current))
            return ActionResult(f"Opened tab {session.tab_index(new)}.")
        number = a.number
        if number is None or not 1 <= number <= len(session.tabs):
            raise ActionProblem(f"there is no tab {number}; the tabs are 1 to {len(session.tabs)}")
        if a.action == "switch":
            await session.switch_tab(number)
            return ActionResult(f"Switched to tab {number}.")
        await session.close_tab(number)
        return ActionResult(f"Closed tab {number}.")

    # Find on page ------------------------------------------------------------------------
    @tool("find_on_page", "Find text on the page.")
    async def find_on_page(self, a: Find) -> ActionResult:
        self._finding = (a.text, 0)
        return await self._find(a.text, 0)

    @tool("find_next", "Next match of find_on_page.")
    async def find_next(self, a: NoArgs) -> ActionResult:
        if self._finding is None:
            raise ActionProblem("there is no search yet: use find_on_page first")
        text, k = self._finding
        self._finding = (text, k + 1)
        return await self._find(text, k + 1)

    @property
    def finding(self) -> bool:
        """A find_on_page is under way (find_next has something to go on with)."""
        return self._finding is not None

    async def _find(self, text: str, k: int) -> ActionResult:
        """The k-th match (wrapping) over the top document and its frames, in that order."""
        page = self._page()
        frames = [page.main_frame] + [f for f in page.frames[1 : MAX_FRAMES + 1]]
        counts = await asyncio.gather(*(_count(f, text) for f in frames))
        total = sum(counts)
        if total == 0:
            return ActionResult(f"Did not find {text!r}: it is not on the page.")
        k %= total
        index = k
        frame = frames[0]
        for frame, count in zip(frames, counts, strict=True):  # noqa: B007 (the one found)
            if index < count:
                break
            index -= count
        found = await call(frame, "find", text, index)
        if frame is not page.main_frame:
            await _reveal(frame)
        line = str(found.get("line", ""))
        line = ("…" if found.get("before") else "") + line + ("…" if found.get("after") else "")
        where = "" if frame is page.main_frame else f" (in frame {frame.name or frame.url})"
        return ActionResult(f'Found {text!r}, match {k + 1} of {total}{where}: "{line}"')

    @tool("sleep", "Wait for the page (seconds).")
    async def sleep(self, a: Wait) -> ActionResult:
        seconds = max(0.0, min(float(a.seconds), self.settings.max_sleep_s))
        await asyncio.sleep(seconds)  # the model asked to wait: the one deliberate sleep
        return ActionResult(f"Waited {seconds:g} seconds.")

    def task_file(self, path: str) -> Path:
        """A file the task may upload: one it was given, or one in its workspace."""
        workspace = self.workspace.resolve()
        for candidate in (Path(path), workspace / path):
            resolved = candidate.resolve()
            if resolved.is_file() and (
                resolved.is_relative_to(workspace) or resolved in {f.resolve() for f in self.files}
            ):
                return resolved
        for given in self.files:
            if given.name == Path(path).name and given.is_file():
                return given
        names = ", ".join(sorted(p.name for p in workspace.iterdir() if p.is_file())[:20])
        raise ActionProblem(
            f"{path} is not a file of this task; the workspace has: {names or 'no files'}"
        )


async def _count(frame: Frame, text: str) -> int:
    try:
        found = await asyncio.wait_for(call(frame, "find", text, None), FRAME_TIMEOUT_S)
    except (PlaywrightError, asyncio.TimeoutError, TimeoutError):
        return 0  # a frame that does not answer has no match we can show
    return int(found.get("n", 0)) if isinstance(found, dict) else 0


async def _reveal(frame: Frame) -> None:
    """Scroll each iframe on the way down into its parent's view."""
    chain = []
    while frame.parent_frame is not None:
        chain.append(frame)
        frame = frame.parent_frame
    for inner in reversed(chain):
        with contextlib.suppress(PlaywrightError):
            holder = await inner.frame_element()
            await holder.evaluate(
                "el => el.scrollIntoView({block: 'nearest', behavior: 'instant'})"
            )


def _pick(options: list[list[str]], wanted: str) -> int | None:
    """The index of the option whose text is `wanted` (exactly, then in any case), or value."""
    for i, (text, _) in enumerate(options):
        if text == wanted:
            return i
    for i, (text, _) in enumerate(options):
        if text.lower() == wanted.lower():
            return i
    for i, (_, value) in enumerate(options):
        if value == wanted:
            return i
    return None


def _verb(name: str) -> str:
    return name.replace("_", " ")


def _timeout_text(error: PlaywrightTimeout) -> str:
    text = str(error)
    for line in text.splitlines():
        if "intercepts pointer events" in line:
            return "another element covers it (" + line.strip()[:160] + ")"
        if "not visible" in line or "not enabled" in line or "not stable" in line:
            return line.strip(" -")[:200]
    return first_line(error)
