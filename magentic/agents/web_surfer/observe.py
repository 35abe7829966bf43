"""The observation after each action: what the page is, where we are on it, what can be
done there, and (for a vision model) a set-of-marks screenshot.

The page side is one `evaluate` of observe.js; the screenshot is one CDP capture, scaled,
marked and compressed in a thread. The text is kept within a character budget: header and
notes first, then the elements in view, then as much of the viewport's text as fits.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from magentic.agents.web_surfer.browser import BrowserSession
from magentic.agents.web_surfer.marks import (
    CLEAR_MARKS_JS,
    SHOW_MARKS_JS,
    Box,
    Screenshot,
    page_marks,
    render_screenshot,
)
from magentic.agents.web_surfer.settings import WebSurferSettings


@lru_cache(maxsize=1)
def observe_js() -> str:
    return resources.files("magentic.agents.web_surfer").joinpath("observe.js").read_text("utf-8")


@dataclass
class Element:
    id: int
    role: str
    name: str
    state: dict[str, Any]
    box: Box
    in_view: bool
    covered: bool = False

    def describe(self) -> str:
        out = f"[{self.id}] {self.role}"
        if self.name:
            out += f' "{self.name}"'
        s = self.state
        if "value" in s and (s["value"] or self.role in ("textbox", "searchbox", "combobox")):
            out += f' value="{s["value"]}"'
        for flag in ("checked", "selected", "expanded", "pressed"):
            if flag in s:
                out += f" {flag}" if s[flag] else f" not-{flag}"
        if s.get("options"):
            out += " options: " + " | ".join(s["options"])[:90]
        if "scrolled" in s:
            out += f" scrolled {s['scrolled']}"
        if s.get("disabled"):
            out += " disabled"
        if s.get("focused"):
            out += " focused"
        return out


@dataclass
class PageState:
    title: str
    url: str
    scroll_x: int
    scroll_y: int
    page_height: int
    viewport_height: int
    viewport_width: int
    text: str
    text_truncated: bool
    elements: list[Element] = field(default_factory=list)

    @classmethod
    def from_js(cls, raw: dict[str, Any]) -> PageState:
        scroll = raw.get("scroll") or {}
        elements = [
            Element(
                id=int(e["id"]),
                role=str(e.get("role", "")),
                name=str(e.get("name", "")),
                state=dict(e.get("state") or {}),
                box=Box(int(e["id"]), e["x"], e["y"], e["w"], e["h"]),
                in_view=bool(e.get("inView")),
                covered=bool(e.get("covered")),
            )
            for e in raw.get("elements", [])
        ]
        return cls(
            title=str(raw.get("title", "")),
            url=str(raw.get("url", "")),
            scroll_x=int(scroll.get("x", 0)),
            scroll_y=int(scroll.get("y", 0)),
            page_height=int(scroll.get("height", 0)),
            viewport_height=int(scroll.get("viewport", 0)) or 1,
            viewport_width=int(scroll.get("width", 0)) or 1,
            text=str(raw.get("text", "")),
            text_truncated=bool(raw.get("textTruncated")),
            elements=elements,
        )

    @classmethod
    def blank(cls, url: str, title: str = "") -> PageState:
        return cls(title, url, 0, 0, 0, 1, 1, "", False)

    def element(self, element_id: int) -> Element | None:
        return next((e for e in self.elements if e.id == element_id), None)

    def scroll_summary(self) -> str:
        vh = self.viewport_height
        above = self.scroll_y / vh
        below = max(self.page_height - self.scroll_y - vh, 0) / vh
        if above < 0.05 and below < 0.05:
            return "the whole page is in view"
        percent = round(100 * self.scroll_y / max(self.page_height - vh, 1))
        where = "top of the page" if above < 0.05 else f"{percent}% down"
        if below < 0.05:
            where = "bottom of the page"
        return f"{where} ({above:.1f} screens above, {below:.1f} below)"


@dataclass
class Observation:
    state: PageState
    text: str
    screenshot: Screenshot | None
    ms: float


async def read_state(page: Page, settings: WebSurferSettings) -> PageState:
    raw = await page.evaluate(observe_js(), {"maxText": settings.observation_chars, "maxName": 60})
    return PageState.from_js(raw)


def render(
    state: PageState,
    *,
    tabs: list[tuple[int, str, bool]],
    notes: list[str],
    budget: int,
    max_elements: int,
    elements: bool = True,
) -> str:
    """The text observation, within `budget` characters (`elements`: list what can be used)."""
    lines = [f"Page: {state.title or '(no title)'}", f"URL: {state.url}"]
    if len(tabs) > 1:
        listed = "; ".join(
            f"[{n}] {title[:40] or '(no title)'}{' (active)' if active else ''}"
            for n, title, active in tabs
        )
        lines.append(f"Tabs: {listed}")
    lines.append(f"Scroll: {state.scroll_summary()}")
    if notes:
        lines.append("Happened: " + " ".join(notes))
    if elements:
        lines += _element_lines(state, max_elements)
    head = "\n".join(lines)
    room = budget - len(head) - len("\nText in view:\n")
    text = state.text.strip()
    if not text:
        return head + "\nNo text in view."
    if len(text) > room or state.text_truncated:
        text = text[: max(room - 40, 200)].rstrip() + " ... (more text: scroll or read_page)"
    return head + "\nText in view:\n" + text


def _element_lines(state: PageState, max_elements: int) -> list[str]:
    lines = []
    visible = [e for e in state.elements if e.in_view]
    if visible:
        lines.append('Elements in view ([id] role "name" state):')
        lines += [e.describe() for e in visible[:max_elements]]
        if len(visible) > max_elements:
            lines.append(f"... {len(visible) - max_elements} more in view.")
    else:
        lines.append("No interactive elements in view.")
    above = sum(1 for e in state.elements if not e.in_view and not e.covered and e.box.y < 0)
    below = sum(1 for e in state.elements if not e.in_view and not e.covered and e.box.y >= 0)
    covered = sum(1 for e in state.elements if e.covered)
    hidden = []
    if above or below:
        hidden.append(f"{above} more elements above and {below} below the viewport")
    if covered:
        hidden.append(f"{covered} covered by an overlay")
    if hidden:
        lines.append("(" + "; ".join(hidden) + ".)")
    return lines


async def capture(page: Page, session: BrowserSession, settings: WebSurferSettings) -> bytes:
    """The viewport, already scaled to the image width (Chromium scales faster than pillow).

    Straight from CDP: about twice as fast as page.screenshot, which also waits for fonts
    and hides the caret. The clip is in document coordinates, hence the layout metrics
    (asked here, so the capture can run alongside the page-side collection).
    """
    try:
        cdp = await session.cdp(page)
        metrics = await cdp.send("Page.getLayoutMetrics")
        view = metrics["cssVisualViewport"]
        width = view["clientWidth"] or settings.viewport_width
        clip = {
            "x": view["pageX"],
            "y": view["pageY"],
            "width": width,
            "height": view["clientHeight"] or settings.viewport_height,
            "scale": min(1.0, settings.screenshot_max_width / width),
        }
        shot = await cdp.send(
            "Page.captureScreenshot", {"format": "jpeg", "quality": 90, "clip": clip}
        )
        return base64.b64decode(shot["data"])
    except (PlaywrightError, KeyError):
        return await page.screenshot(type="jpeg", quality=90)


async def observe(
    session: BrowserSession,
    page: Page,
    settings: WebSurferSettings,
    *,
    screenshot: bool,
    notes: list[str] | None = None,
) -> Observation:
    started = time.perf_counter()
    marks_on_page = settings.draw_marks_on_page()
    if marks_on_page:  # the person's overlay must not end up in the model's screenshot
        with contextlib.suppress(PlaywrightError):
            await page.evaluate(CLEAR_MARKS_JS)
    shot = asyncio.ensure_future(capture(page, session, settings)) if screenshot else None
    if shot is not None:  # if the guard cancels us (guard.py), its error is not news
        shot.add_done_callback(lambda t: t.cancelled() or t.exception())
    try:
        state = await read_state(page, settings)
    except PlaywrightError:
        # A page between documents, or one that refuses scripts: report what we know.
        state = PageState.blank(page.url, await _title(page))
    tabs = [
        (n, state.title if tab is page else await _title(tab), tab is page)
        for n, tab in enumerate(session.tabs, start=1)
    ]
    text = render(
        state,
        tabs=tabs,
        notes=notes or [],
        budget=settings.observation_chars,
        max_elements=settings.max_elements,
    )
    image: Screenshot | None = None
    boxes = [e.box for e in state.elements if e.in_view][: settings.max_elements]
    if shot is not None:
        raw = await shot
        css_width = state.viewport_width if state.viewport_width > 1 else settings.viewport_width
        image = await asyncio.to_thread(
            render_screenshot,
            raw,
            boxes,
            css_width=css_width,
            fmt=settings.screenshot_format,
            quality=settings.screenshot_quality,
            max_width=settings.screenshot_max_width,
        )
    if marks_on_page:
        with contextlib.suppress(PlaywrightError):
            await page.evaluate(SHOW_MARKS_JS, page_marks(boxes))
    return Observation(state, text, image, (time.perf_counter() - started) * 1000)


async def _title(page: Page) -> str:
    try:
        return await asyncio.wait_for(page.title(), 2)
    except (PlaywrightError, TimeoutError, asyncio.TimeoutError):
        return ""
