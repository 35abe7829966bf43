"""find_on_page and find_next: every match in order, through shadow roots and frames, each
scrolled into view, selected (so the screenshot shows it) and told as "match k of n"."""

from __future__ import annotations

import pytest

from magentic.agents.web_surfer.actions import Actions
from tests.web.helpers import act

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


async def test_find_walks_matches_in_the_page_its_shadow_roots_and_frames(
    browsing: Actions, site: str
) -> None:
    _, seen = await act(browsing, "visit_url", url=f"{site}/find.html")
    result, seen = await act(browsing, "find_on_page", text="LAMP")
    assert result.summary.startswith("Found 'LAMP', match 1 of 4")
    assert "The keeper lit the lamp at dusk." in result.summary
    page = await browsing.session.ready_page()
    assert await page.evaluate("getSelection().toString()") == "lamp"  # marked on the page

    result, seen = await act(browsing, "find_next")
    assert result.summary.endswith('match 2 of 4: "A storm passed; the lamp stayed lit all night."')
    assert seen.state.scroll_y > 1000
    assert "the lamp stayed lit all night" in seen.text  # scrolled to it

    result, seen = await act(browsing, "find_next")
    assert "match 3 of 4" in result.summary and "lamp oil 40 litres" in result.summary
    assert "Beacon note: lamp oil 40 litres." in seen.text  # inside a shadow root

    result, seen = await act(browsing, "find_next")
    assert "match 4 of 4 (in frame" in result.summary
    assert "lamp lens was cleaned" in result.summary
    assert "Keeper notes: the lamp lens was cleaned on Sunday." in seen.text  # the frame in view

    result, _ = await act(browsing, "find_next")
    assert "match 1 of 4" in result.summary  # wraps around


async def test_find_says_when_there_is_no_match(browsing: Actions, site: str) -> None:
    await act(browsing, "visit_url", url=f"{site}/find.html")
    result, _ = await act(browsing, "find_on_page", text="unicorn")
    assert result.error is None
    assert result.summary == "Did not find 'unicorn': it is not on the page."
    fresh = Actions(browsing.session, browsing.settings, workspace=browsing.workspace)
    result = await fresh.run("find_next", {})
    assert result.error == "there is no search yet: use find_on_page first"
