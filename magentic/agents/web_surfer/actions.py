"""The browser actions behind the WebSurfer's tools, and how their failures are reported.

Every action runs inside an `ActionWatch` and ends with `settle`, so the observation that
follows shows the page after it reacted. A failure the model can do something about (no
such element, a timeout, a blocked address, an HTTP error) comes back as text in
`ActionResult.error`, never as an exception; a crashed page is noted and brought back.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urlsplit

from playwright.async_api import ElementHandle, Page
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout

from magentic.agents.web_surfer.browser import BrowserSession, first_line
from magentic.agents.web_surfer.marks import CLEAR_MARKS_JS
from magentic.agents.web_surfer.settings import WebSurferSettings
from magentic.agents.web_surfer.settle import ActionWatch, settle

RESOLVE_JS = """([id, control]) => {
  const mg = window.__magentic;
  if (!mg) return null;
  const ref = (control && mg.control && mg.control.get(id)) || mg.byId.get(id);
  const el = ref && ref.deref();
  return el && el.isConnected ? el : null;
}"""

SCROLL_JS = """([target, direction]) => {
  const el = target || document.scrollingElement || document.documentElement;
  const before = el.scrollTop;
  const step = (target ? el.clientHeight : window.innerHeight) * 0.8;
  el.scrollBy({top: direction * step, behavior: 'instant'});
  return Math.round(el.scrollTop - before);
}"""


# Where to click an element: its center, scrolled into view, if nothing covers it there.
# Clicking there with the mouse is a real click and skips Playwright's wait for two stable
# animation frames; anything unusual (covered, moving, zero size) takes Playwright's
# careful path instead, which retries and explains what is in the way.
POINT_JS = """(el) => {
  if (el.disabled || el.getAttribute('aria-disabled') === 'true') return {disabled: true};
  let r = el.getBoundingClientRect();
  if (r.top < 0 || r.left < 0 || r.bottom > innerHeight || r.right > innerWidth) {
    el.scrollIntoView({block: 'center', inline: 'center', behavior: 'instant'});
    r = el.getBoundingClientRect();
  }
  if (r.width < 1 || r.height < 1) return null;
  const x = Math.min(Math.max(r.left + r.width / 2, 0), innerWidth - 1);
  const y = Math.min(Math.max(r.top + r.height / 2, 0), innerHeight - 1);
  let hit = document.elementFromPoint(x, y);
  while (hit && hit.shadowRoot) {
    const inner = hit.shadowRoot.elementFromPoint(x, y);
    if (!inner || inner === hit) break;
    hit = inner;
  }
  const labels = el.labels ? Array.from(el.labels) : [];
  const ok = hit && (el === hit || el.contains(hit) || labels.some((l) => l.contains(hit)));
  return ok ? {x, y} : null;
}"""


# Focus a text field and select its content, so typed text replaces it. False for fields
# that take no typed text (dates, colors, read-only): Playwright's fill handles those.
FOCUS_TEXT_JS = """(el) => {
  const typed = ['text', 'search', 'email', 'url', 'tel', 'password', 'number', ''];
  const tag = el.tagName;
  const field = (tag === 'INPUT' && typed.includes((el.getAttribute('type') || '').toLowerCase()))
    || tag === 'TEXTAREA';
  if (!(field || el.isContentEditable) || el.disabled || el.readOnly) return false;
  const r = el.getBoundingClientRect();
  if (r.top < 0 || r.bottom > innerHeight) el.scrollIntoView({block: 'center', behavior: 'instant'});
  el.focus();
  if (field) {
    el.select();
  } else {
    const range = document.createRange();
    range.selectNodeContents(el);
    getSelection().removeAllRanges();
    getSelection().addRange(range);
  }
  const active = el.getRootNode().activeElement || document.activeElement;
  return active === el || el.contains(active);
}"""


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

    async def run(self, name: str, args: dict[str, Any]) -> ActionResult:
        handler = getattr(self, f"do_{name}", None)
        if handler is None:
            return ActionResult(f"Did not run {name}.", error=f"there is no action named {name}")
        accepted = inspect.signature(handler).parameters
        args = {k: v for k, v in args.items() if k in accepted}  # ignore extra arguments
        missing = [
            p.name
            for p in accepted.values()
            if p.default is inspect.Parameter.empty and p.name != "page" and p.name not in args
        ]
        if missing:
            return ActionResult(f"Did not run {name}.", error=f"{name} needs: {', '.join(missing)}")
        page = await self.session.ready_page()
        if self.settings.draw_marks_on_page():
            with contextlib.suppress(PlaywrightError):
                await page.evaluate(CLEAR_MARKS_JS)
        downloads_before = len(self.session.downloaded)
        cdp = None
        with contextlib.suppress(PlaywrightError):
            cdp = await self.session.cdp(page)  # announced popups and navigations
        opens, popups = self.session.window_opens, self.session.popups
        with ActionWatch(page, cdp, self.session.main_frame_id(page)) as watch:
            try:
                result: ActionResult = await handler(page, **args)
            except ActionProblem as problem:
                result = ActionResult(f"Could not {_verb(name)}.", error=str(problem))
            except (TypeError, ValueError) as error:  # arguments of the wrong kind
                result = ActionResult(f"Could not {_verb(name)}.", error=f"bad arguments: {error}")
            except PlaywrightTimeout as error:
                result = ActionResult(f"Could not {_verb(name)}.", error=_timeout_text(error))
            except PlaywrightError as error:
                if self.session.crashed(page):
                    result = ActionResult(f"Could not {_verb(name)}.", error="the page crashed")
                else:
                    result = ActionResult(f"Could not {_verb(name)}.", error=first_line(error))
            if not self.session.crashed(page):
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
            if "ERR_ABORTED" not in failure and not notes:
                notes.append(f"The page did not load ({failure}).")
        if watch.status and watch.status >= 400:
            notes.append(f"The server answered HTTP {watch.status}.")
        return notes

    # Elements ----------------------------------------------------------------------------
    async def element(self, page: Page, target_id: Any, *, control: bool = False) -> ElementHandle:
        try:
            number = int(target_id)
        except (TypeError, ValueError):
            raise ActionProblem(f"{target_id!r} is not an element id (a number)") from None
        handle = await page.evaluate_handle(RESOLVE_JS, [number, control])
        element = handle.as_element()
        if element is None:
            await handle.dispose()
            raise ActionProblem(
                f"there is no element [{number}] on the page now; use an id from the latest list"
            )
        return element

    # Navigation --------------------------------------------------------------------------
    async def do_visit_url(self, page: Page, url: str) -> ActionResult:
        url = url.strip()
        if "://" not in url and not url.startswith(("about:", "file:")):
            if " " in url or "." not in url:
                raise ActionProblem(f"{url!r} is not a web address; use web_search to search")
            url = "https://" + url
        await self._goto(page, url)
        return ActionResult(f"Opened {url}.")

    async def do_web_search(self, page: Page, query: str) -> ActionResult:
        url = self.settings.search_url.format(query=quote_plus(query))
        await self._goto(page, url)
        return ActionResult(f"Searched the web for {query!r}.")

    async def _goto(self, page: Page, url: str) -> None:
        reason = self.session.policy.check_url(url)
        if reason:
            raise ActionProblem(f"{url} was not opened: blocked by the URL policy ({reason})")
        try:
            await page.goto(url, wait_until="commit")
        except PlaywrightError as error:
            text = first_line(error)
            if "interrupted by another navigation" in text or "Download is starting" in text:
                return  # a redirect by script, an error page or a download: settle follows it
            if isinstance(error, PlaywrightTimeout):
                await self.session.stop_loading(page)  # else Chromium keeps waiting (guard.py)
            raise ActionProblem(
                self.session.explain(url) or f"{url} did not load: {text}"
            ) from None

    async def do_history_back(self, page: Page) -> ActionResult:
        before = page.url
        response = await page.go_back(wait_until="commit")
        if response is None and page.url == before:
            raise ActionProblem("there is no earlier page in this tab")
        return ActionResult("Went back to the previous page.")

    async def do_refresh(self, page: Page) -> ActionResult:
        await page.reload(wait_until="commit")
        return ActionResult("Reloaded the page.")

    # Element actions ---------------------------------------------------------------------
    async def _point(self, element: ElementHandle, target_id: int) -> tuple[float, float] | None:
        point = await element.evaluate(POINT_JS)
        if point and point.get("disabled"):
            raise ActionProblem(f"[{target_id}] is disabled")
        return (point["x"], point["y"]) if point else None

    async def do_click(self, page: Page, target_id: int) -> ActionResult:
        element = await self.element(page, target_id)
        point = await self._point(element, target_id)
        if point:
            await page.mouse.click(*point)
        else:
            await element.click()
        return ActionResult(f"Clicked [{target_id}].")

    async def do_input_text(
        self, page: Page, target_id: int, text: str, submit: bool = False
    ) -> ActionResult:
        element = await self.element(page, target_id, control=True)
        tag = await element.evaluate("el => el.tagName.toLowerCase()")
        if tag == "select":
            raise ActionProblem(f"[{target_id}] is a drop-down list; use select_option")
        if await element.evaluate(FOCUS_TEXT_JS):
            # Typed like a paste: real input events, no waiting for animation frames.
            if text:
                await page.keyboard.insert_text(text)
            else:
                await page.keyboard.press("Delete")
        else:
            await element.fill(text)
            await element.focus()
        if submit:
            await page.keyboard.press("Enter")
        done = "Typed" + (" and submitted" if submit else "")
        return ActionResult(f"{done} {text[:80]!r} into [{target_id}].")

    async def do_select_option(self, page: Page, target_id: int, option: str) -> ActionResult:
        element = await self.element(page, target_id, control=True)
        options = await element.evaluate(
            "el => el.options ? Array.from(el.options).map(o => [o.text.trim(), o.value]) : null"
        )
        if options is None:
            raise ActionProblem(f"[{target_id}] is not a drop-down list; click it to open it")
        index = _pick(options, option.strip())
        if index is None:
            names = ", ".join(text for text, _ in options[:20])
            raise ActionProblem(f"[{target_id}] has no option {option!r}; its options: {names}")
        await element.select_option(index=index)
        return ActionResult(f"Selected {options[index][0]!r} in [{target_id}].")

    async def do_hover(self, page: Page, target_id: int) -> ActionResult:
        element = await self.element(page, target_id)
        point = await self._point(element, target_id)
        if point:
            await page.mouse.move(*point)
        else:
            await element.hover()
        return ActionResult(f"Hovered over [{target_id}].")

    async def do_press_key(self, page: Page, keys: str) -> ActionResult:
        await page.keyboard.press(keys.strip())
        return ActionResult(f"Pressed {keys.strip()}.")

    async def do_scroll(
        self, page: Page, direction: str, target_id: int | None = None
    ) -> ActionResult:
        sign = -1 if direction == "up" else 1
        target = await self.element(page, target_id) if target_id is not None else None
        moved = await page.evaluate(SCROLL_JS, [target, sign])
        where = f"[{target_id}]" if target_id is not None else "the page"
        if moved == 0:
            edge = "top" if sign < 0 else "bottom"
            return ActionResult(f"Did not scroll {where}: it is already at the {edge}.")
        return ActionResult(f"Scrolled {where} {direction}.")

    async def do_upload_file(self, page: Page, target_id: int, path: str) -> ActionResult:
        file = self._task_file(path)
        upload = await asyncio.to_thread(self.session.pool.shared_copy, file)  # sandbox_user.py
        element = await self.element(page, target_id, control=True)
        is_file_input = await element.evaluate("el => el.tagName === 'INPUT' && el.type === 'file'")
        if is_file_input:
            await element.set_input_files(upload)
        else:
            async with page.expect_file_chooser() as chooser:
                await element.click()
            await (await chooser.value).set_files(upload)
        return ActionResult(f"Chose {file.name} for upload in [{target_id}].")

    async def do_download(self, page: Page, target_id: int) -> ActionResult:
        element = await self.element(page, target_id)
        timeout = self.settings.navigation_timeout_s * 1000
        try:
            async with page.expect_download(timeout=timeout):
                await element.click()
        except PlaywrightTimeout:
            raise ActionProblem(f"clicking [{target_id}] did not start a download") from None
        return ActionResult(f"Downloaded the file behind [{target_id}].")

    # Tabs --------------------------------------------------------------------------------
    async def do_tab(
        self, page: Page, action: str, number: int | None = None, url: str | None = None
    ) -> ActionResult:
        session = self.session
        if action == "open":
            new = await session.new_page()
            if url:
                await self.do_visit_url(new, url)
            return ActionResult(f"Opened tab {session.tab_index(new)}.")
        if number is None or not 1 <= number <= len(session.tabs):
            raise ActionProblem(f"there is no tab {number}; the tabs are 1 to {len(session.tabs)}")
        if action == "switch":
            await session.switch_tab(number)
            return ActionResult(f"Switched to tab {number}.")
        await session.close_tab(number)
        return ActionResult(f"Closed tab {number}.")

    async def do_sleep(self, page: Page, seconds: float = 2.0) -> ActionResult:
        seconds = max(0.0, min(float(seconds), self.settings.max_sleep_s))
        await asyncio.sleep(seconds)  # the model asked to wait: the one deliberate sleep
        return ActionResult(f"Waited {seconds:g} seconds.")

    def _task_file(self, path: str) -> Path:
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


def host_port(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"
