"""Small helpers shared by the WebSurfer tests."""

from __future__ import annotations

from typing import Any

from magentic.agents.web_surfer.actions import ActionResult, Actions
from magentic.agents.web_surfer.observe import Element, Observation, observe


async def act(actions: Actions, name: str, **args: Any) -> tuple[ActionResult, Observation]:
    """Run one action, then observe the page as the agent would."""
    result = await actions.run(name, args)
    session = actions.session
    page = await session.ready_page()
    seen = await observe(
        session, page, actions.settings, screenshot=True, notes=result.notes + session.take_notes()
    )
    return result, seen


def find(seen: Observation, name: str, role: str | None = None) -> Element:
    """The element whose accessible name contains `name` (the way a script would pick it)."""
    for element in seen.state.elements:
        if name.lower() in element.name.lower() and (role is None or element.role == role):
            return element
    listed = ", ".join(f"{e.role} {e.name!r}" for e in seen.state.elements)
    raise AssertionError(f"no element named {name!r}; the page has: {listed}")
