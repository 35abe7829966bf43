"""In view means a person could see it: inside the viewport, not clipped by a scroll box or
overflow, not covered, not hidden. Scroll boxes are listed and scroll on their own."""

from __future__ import annotations

import pytest

from magentic.agents.web_surfer.actions import Actions
from tests.web.helpers import act, find

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


async def test_clipped_covered_and_hidden_text_is_not_in_view(browsing: Actions, site: str) -> None:
    _, seen = await act(browsing, "visit_url", url=f"{site}/visibility.html")
    assert "Message one is on top." in seen.text
    assert "the code is 7341" not in seen.text  # scrolled out of the box's view
    assert "First clipped line shows." in seen.text
    assert "Second clipped line is cut off." not in seen.text  # overflow: hidden
    assert "Faint text" not in seen.text  # opacity 0
    assert "Ghost text" not in seen.text  # visibility: hidden
    assert "Text under a cover." not in seen.text  # another element covers it
    assert "Plain visible text." in seen.text
    reply = find(seen, "Reply at the end")
    assert not reply.in_view and reply.clipped
    assert "scrolled out of view inside scrollable areas" in seen.text


async def test_scrolling_a_box_shows_its_new_content(browsing: Actions, site: str) -> None:
    _, seen = await act(browsing, "visit_url", url=f"{site}/visibility.html")
    box = find(seen, "Messages", "scrollable area")
    assert box.state["scrolled"] == "0%"
    result, seen = await act(browsing, "scroll", direction="down", target_id=box.id)
    assert result.error is None
    assert find(seen, "Messages", "scrollable area").state["scrolled"] != "0%"
    for _ in range(5):
        result, seen = await act(browsing, "scroll", direction="down", target_id=box.id)
        if "already at the bottom" in result.summary:
            break
    assert "the code is 7341" in seen.text
    assert "Message one is on top." not in seen.text
    assert find(seen, "Reply at the end").in_view
    assert find(seen, "Messages", "scrollable area").state["scrolled"] == "100%"
    assert seen.state.scroll_y == 0  # the page itself did not move


async def test_results_that_arrive_after_a_select_are_waited_for(
    browsing: Actions, site: str
) -> None:
    # A 150 ms debounce, then a fetch answered after a second: the observation right after
    # select_option shows the results, without a sleep.
    _, seen = await act(browsing, "visit_url", url=f"{site}/results.html")
    _, seen = await act(
        browsing, "select_option", target_id=find(seen, "Race").id, option="Autumn cup"
    )
    assert "Tern 0:58:03" in seen.text
    assert "Loading results" not in seen.text
