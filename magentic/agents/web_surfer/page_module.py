"""The Python side of the page-side module (page.js): loading it, calling it, and the ids.

page.js is an init script of every browser context, so every frame's document starts with
it; a frame found without it (a document made before the script was registered, or one
Chromium made without init scripts) gets it injected on the first call. Calls go by method
name through one small expression, so the contract lives in page.js alone.

Element ids are local to a frame's document on the page side. `IdMap` turns (frame, local
id) into the numbers the model sees, unique across the frames of a tab and stable while an
element lives; the main frame's first document keeps the same numbers it always had.
"""

from __future__ import annotations

import weakref
from functools import lru_cache
from importlib import resources
from typing import Any

from playwright.async_api import ElementHandle, Frame, JSHandle, Page

_MISSING = "__magentic_missing__"
_CALL = (
    "([m, a]) => { const mg = window.__magentic; return mg && mg.version === 2 ? mg[m](...a) : '"
    + _MISSING
    + "'; }"
)
_CALL_ON = "(el, [m, a]) => window.__magentic[m](el, ...a)"
_RESOLVE = (
    "([id, c]) => { const mg = window.__magentic; return mg && mg.version === 2 ? "
    "mg.resolve(id, c) : null; }"
)


@lru_cache(maxsize=1)
def page_script() -> str:
    """The module's source: an init script, and an expression to inject."""
    return resources.files("magentic.agents.web_surfer").joinpath("page.js").read_text("utf-8")


async def call(frame: Frame, method: str, *args: Any) -> Any:
    """`window.__magentic[method](*args)` in `frame`, injecting the module if it is missing."""
    result = await frame.evaluate(_CALL, [method, list(args)])
    if isinstance(result, str) and result == _MISSING:
        await frame.evaluate(page_script())
        result = await frame.evaluate(_CALL, [method, list(args)])
    return result


async def call_on(element: ElementHandle, method: str, *args: Any) -> Any:
    """`window.__magentic[method](element, *args)` in the element's frame (which has it:
    every element handle we hold was resolved through the module)."""
    return await element.evaluate(_CALL_ON, [method, list(args)])


async def resolve(frame: Frame, local_id: int, *, control: bool) -> JSHandle:
    return await frame.evaluate_handle(_RESOLVE, [local_id, control])


class IdMap:
    """The model's element ids for one tab: (frame, local id) <-> one number."""

    def __init__(self) -> None:
        self._numbers: dict[tuple[int, int], int] = {}
        self._places: dict[int, tuple[weakref.ref[Frame], int]] = {}
        self._next = 1

    def number(self, frame: Frame, local_id: int) -> int:
        key = (id(frame), local_id)
        found = self._numbers.get(key)
        place = self._places.get(found) if found is not None else None
        if found is not None and place is not None and place[0]() is frame:
            return found
        number = self._next
        self._next += 1
        self._numbers[key] = number
        self._places[number] = (weakref.ref(frame), local_id)
        return number

    def place(self, number: int) -> tuple[Frame, int] | None:
        found = self._places.get(number)
        if found is None:
            return None
        frame = found[0]()
        return (frame, found[1]) if frame is not None and not frame.is_detached() else None


_ID_MAPS: weakref.WeakKeyDictionary[Page, IdMap] = weakref.WeakKeyDictionary()


def ids_of(page: Page) -> IdMap:
    found = _ID_MAPS.get(page)
    if found is None:
        found = _ID_MAPS[page] = IdMap()
    return found
