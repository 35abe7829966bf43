"""Walking a page's frames for the observation: same-origin and cross-origin, nested.

Each frame is read by its own page-side module. Its place comes from its parent, which
knows where the iframe's content box sits and which part of it a person can see (clipped
by the parent's view and overflow, or covered by an overlay); the frame then reports only
what shows through that part. Boxes are moved into the top frame's coordinates, so the
set-of-marks lands on the screenshot where the element is.

A frame that does not answer in time, has gone, or shows an error page (a site refusing to
be framed) becomes a note, never an exception; past `MAX_FRAMES` the rest are counted.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Frame, Page

from magentic.agents.web_surfer.page_module import call, call_on

MAX_FRAMES = 50
FRAME_TIMEOUT_S = 1.5
_NOTHING = {"x0": 0, "y0": 0, "x1": 0, "y1": 0}


@dataclass
class FrameRead:
    frame: Frame
    label: str
    offset: tuple[float, float]  # the frame's viewport origin, in top-frame coordinates
    clip: dict[str, float] | None  # the part a person sees, in the frame's coordinates
    in_view: bool
    raw: dict[str, Any] | None = None
    why: str | None = None  # why it is not in view: 'covered', 'clipped', 'out', 'hidden'
    url: str | None = None  # the address it was meant to show, when it shows an error page


async def read_frames(page: Page, args: dict[str, Any]) -> tuple[list[FrameRead], list[str]]:
    """Every frame below the main one, parents before children, with its page-side report."""
    notes: list[str] = []
    reads: list[FrameRead] = []
    top = FrameRead(page.main_frame, "", (0.0, 0.0), None, True)
    level: list[tuple[Frame, FrameRead]] = [(f, top) for f in page.main_frame.child_frames]
    skipped = 0
    while level:
        room = MAX_FRAMES - len(reads)
        if room <= 0:
            skipped += len(level)
            level = [(c, top) for f, _ in level for c in _children(f)]
            continue
        skipped += max(0, len(level) - room)
        level = level[:room]
        results = await asyncio.gather(
            *(_read(frame, parent, args, notes) for frame, parent in level)
        )
        nxt: list[tuple[Frame, FrameRead]] = []
        for read in results:
            if read is None:
                continue
            reads.append(read)
            nxt += [(child, read) for child in _children(read.frame)]
        level = nxt
    if skipped:
        notes.append(f"{skipped} more frames were not read (at most {MAX_FRAMES} are).")
    return reads, _grouped(notes)


def _grouped(notes: list[str]) -> list[str]:
    """Many frames failing the same way make one note, not many."""
    late = [n for n in notes if "did not answer in time" in n]
    if len(late) <= 2:
        return notes
    rest = [n for n in notes if n not in late]
    return [f"{len(late)} frames did not answer in time; their content is not shown.", *rest]


def _children(frame: Frame) -> list[Frame]:
    try:
        return [f for f in frame.child_frames if not f.is_detached()]
    except PlaywrightError:
        return []


async def _read(
    frame: Frame, parent: FrameRead, args: dict[str, Any], notes: list[str]
) -> FrameRead | None:
    url = frame.url
    label = _label(frame.name, url)
    named = label + (f" ({url[:100]})" if url and url != "about:blank" else "")
    try:
        return await asyncio.wait_for(_place_and_read(frame, parent, args, label), FRAME_TIMEOUT_S)
    except (asyncio.TimeoutError, TimeoutError):
        notes.append(f"The frame {named} did not answer in time; its content is not shown.")
    except Exception as error:  # whatever a frame does, the observation comes back
        text = str(error).splitlines()[0] if str(error) else type(error).__name__
        if "detached" in text.lower() or "navigat" in text.lower() or "destroyed" in text.lower():
            notes.append(f"The frame {named} was replaced while it was read.")
        else:
            notes.append(f"The frame {named} could not be read ({text[:120]}).")
    return None


async def _place_and_read(
    frame: Frame, parent: FrameRead, args: dict[str, Any], label: str
) -> FrameRead | None:
    holder = await frame.frame_element()
    try:
        place = await call_on(holder, "frameBox", parent.clip if parent.clip is not None else None)
    finally:
        with contextlib.suppress(PlaywrightError):
            await holder.dispose()
    if not isinstance(place, dict):
        raise PlaywrightError("its frame element is gone")
    if place.get("name"):
        label = _label(str(place["name"]), frame.url)
    offset = (parent.offset[0] + place["x"], parent.offset[1] + place["y"])
    seen = place.get("seen") if parent.in_view else None
    if seen:
        clip = {
            "x0": seen["x0"] - place["x"],
            "y0": seen["y0"] - place["y"],
            "x1": seen["x1"] - place["x"],
            "y1": seen["y1"] - place["y"],
        }
    else:
        clip = dict(_NOTHING)
    why = None if seen else (place.get("why") or parent.why or "out")
    read = FrameRead(frame, label, offset, clip, bool(seen), why=why)
    if frame.url.startswith("chrome-error:"):
        read.url = str(place.get("src") or frame.url)
        read.raw = {"url": frame.url, "elements": [], "text": "", "notes": [
            f"it shows an error page instead of {read.url} (the site may refuse to be shown "
            "in a frame, or it did not load)"
        ]}  # fmt: skip
        return read
    read.raw = await call(frame, "observe", {**args, "clip": clip})
    return read


def _label(name: str, url: str) -> str:
    return f'"{name}"' if name else "(unnamed)"
