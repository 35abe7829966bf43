"""Shadow DOM: open roots, nested and slotted, are read for text, elements and read_page;
a closed root is reported as closed."""

from __future__ import annotations

import pytest

from magentic.agents.web_surfer.actions import Actions
from magentic.agents.web_surfer.reading import page_markdown
from tests.web.helpers import act, find

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


async def test_open_shadow_roots_give_text_and_elements(browsing: Actions, site: str) -> None:
    _, seen = await act(browsing, "visit_url", url=f"{site}/shadow.html")
    assert "Pocket lamp" in seen.text  # inside an open root
    assert "Five stars from Ada: bright and light." in seen.text  # slotted, two roots deep
    find(seen, "More reviews", "link")  # an element two roots deep
    assert "Price: 129 EUR" not in seen.text
    _, seen = await act(browsing, "click", target_id=find(seen, "Show price").id)
    assert "Price: 129 EUR" in seen.text  # revealed inside the root, read as text


async def test_a_closed_root_is_reported_as_closed(browsing: Actions, site: str) -> None:
    _, seen = await act(browsing, "visit_url", url=f"{site}/shadow.html")
    assert "Closed content 4242" not in seen.text
    assert "1 closed shadow root (secret-widget)" in seen.text


async def test_read_page_walks_open_roots(browsing: Actions, site: str) -> None:
    _, seen = await act(browsing, "visit_url", url=f"{site}/shadow.html")
    await act(browsing, "click", target_id=find(seen, "Show price").id)
    text = await page_markdown(await browsing.session.ready_page())
    assert "Pocket lamp" in text and "Price: 129 EUR" in text
    assert "Five stars from Ada" in text and "More reviews" in text


async def test_a_deeply_nested_shadow_tree_is_cut_with_a_note(browsing: Actions, site: str) -> None:
    _, seen = await act(browsing, "visit_url", url=f"{site}/deep-shadow.html")
    assert seen.state.title == "Nesting doll"
    assert "Doll level 1" in seen.text and "Doll level 12" in seen.text
    assert "elements of shadow roots nested deeper than 40 are not listed" in seen.text
