"""The observation after each action: what the page is, where we are on it, what can be
done there, and (for a vision model) a set-of-marks screenshot.

The page side is one call of page.js's `observe` per frame (frames.py walks them); the
screenshot is one CDP capture, scaled, marked and compressed in a thread. The text is kept
within a character budget: header and notes first, then the elements in view, then as much
of the viewport's text as fits, each frame's under a line naming it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from magentic.agents.web_surfer.browser import BrowserSession
from magentic.agents.web_surfer.frames import FrameRead, read_frames
from magentic.agents.web_surfer.marks import Box, Screenshot, page_marks, render_screenshot
from magentic.agents.web_surfer.page_module import call, ids_of
from magentic.agents.web_surfer.settings import WebSurferSettings


@dataclass
class Element:
    id: int
    role: str
    name: str
    state: dict[str, Any]
    box: Box
    in_view: bool
    covered: bool = False
    clipped: bool = False  # inside a scrollable area, scrolled out of its view

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
    frames: list[FrameText] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what could not be read, and why

    @classmethod
    def from_js(
        cls, raw: dict[str, Any], number: Any = int, offset: tuple[float, float] = (0, 0)
    ) -> PageState:
        """The page-side report; `number` turns local ids into the model's, `offset` moves
        boxes from the frame's viewport to the page's."""
        scroll = raw.get("scroll") or {}
        elements = [_element(e, number, offset) for e in raw.get("elements", [])]
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
            notes=[str(n) for n in raw.get("notes") or []],
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


def _element(e: dict[str, Any], number: Any, offset: tuple[float, float]) -> Element:
    gid = int(number(int(e["id"])))
    x, y = e["x"] + offset[0], e["y"] + offset[1]
    return Element(
        id=gid,
        role=str(e.get("role", "")),
        name=str(e.get("name", "")),
        state=dict(e.get("state") or {}),
        box=Box(gid, x, y, e["w"], e["h"]),
        in_view=bool(e.get("inView")),
        covered=bool(e.get("covered")),
        clipped=bool(e.get("clipped")),
    )


@dataclass
class FrameText:
    """A frame's line in the observation: which frame, and the text of it in view."""

    label: str
    url: str
    text: str
    in_view: bool
    truncated: bool = False


@dataclass
class Observation:
    state: PageState
    text: str
    screenshot: Screenshot | None
    ms: float


async def read_state(page: Page, settings: WebSurferSettings) -> PageState:
    """The page as the model sees it: the top document, then every frame in it."""
    args = {"maxText": settings.observation_chars, "maxName": 60, "clip": None}
    main = page.main_frame
    ids = ids_of(page)
    raw = await call(main, "observe", args)
    state = PageState.from_js(raw, lambda local: ids.number(main, local))
    if main.child_frames:
        reads, notes = await read_frames(page, args)
        state.notes += notes
        for read in reads:
            _merge(state, read, ids)
    return state


def _merge(state: PageState, read: FrameRead, ids: Any) -> None:
    frame = read.frame
    if read.raw is None:
        return
    part = PageState.from_js(read.raw, lambda local: ids.number(frame, local), read.offset)
    if read.why in ("covered", "clipped"):  # the whole frame is under an overlay, or cut off
        for e in part.elements:
            e.covered, e.clipped = read.why == "covered", read.why == "clipped"
    state.elements += part.elements
    state.notes += [f"In frame {read.label}: {note}" for note in part.notes]
    state.frames.append(
        FrameText(read.label, read.url or part.url, part.text, read.in_view, part.text_truncated)
    )


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
    if state.notes:
        lines.append("Not shown: " + "; ".join(n.rstrip(".") for n in state.notes[:6])[:400] + ".")
    if elements:
        lines += _element_lines(state, max_elements)
    head = "\n".join(lines)
    room = budget - len(head) - len("\nText in view:\n")
    sections = _text_sections(state)
    if not any(text for _, text, _ in sections):
        return head + "\nNo text in view."
    return head + "\nText in view:\n" + _fit(sections, room)


def _text_sections(state: PageState) -> list[tuple[str, str, bool]]:
    """(heading, text, cut short) for the top document and each frame in view."""
    out = [("", state.text.strip(), state.text_truncated)]
    for frame in state.frames:
        if frame.in_view and frame.text.strip():  # empty ones (trackers, ads) cost words only
            heading = f"Frame {frame.label} ({frame.url[:120]}):"
            out.append((heading, frame.text.strip(), frame.truncated))
    return out


def _fit(sections: list[tuple[str, str, bool]], room: int) -> str:
    """The sections within `room` characters; a long one gives way to the others, and
    sections that no longer fit are counted, not shown."""
    more = " ... (more text: scroll or read_page)"
    total = sum(len(h) + len(t) + 2 for h, t, _ in sections)
    parts: list[str] = []
    left = room
    for n, (heading, text, cut) in enumerate(sections):
        size = len(heading) + len(text) + 2
        if heading and left < len(heading) + 60:
            parts.append(f"({len(sections) - n} more frames have text: read_page shows them.)")
            break
        share = size if total <= room else max(min(size, 160), room * size // total)
        share = min(share, left) - len(heading) - 2
        if len(text) > share or cut:
            text = text[: max(share - len(more), 40)].rstrip() + more
        part = f"{heading}\n{text}" if heading else text
        parts.append(part)
        left -= len(part) + 1
    return "\n".join(p for p in parts if p)


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
    out_of_view = [e for e in state.elements if not e.in_view and not e.covered and not e.clipped]
    above = sum(1 for e in out_of_view if e.box.y < 0)
    below = len(out_of_view) - above
    covered = sum(1 for e in state.elements if e.covered)
    clipped = sum(1 for e in state.elements if e.clipped)
    hidden = []
    if above or below:
        hidden.append(f"{above} more elements above and {below} below the viewport")
    if clipped:
        hidden.append(f"{clipped} scrolled out of view inside scrollable areas")
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
            await call(page.main_frame, "clearMarks")
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
            await call(page.main_frame, "showMarks", page_marks(boxes))
    return Observation(state, text, image, (time.perf_counter() - started) * 1000)


async def _title(page: Page) -> str:
    try:
        return await asyncio.wait_for(page.title(), 2)
    except (PlaywrightError, asyncio.TimeoutError, TimeoutError):
        return ""
