"""Hover menus: triggers found from CSS `:hover` rules, hover listeners and ARIA popups get
ids; after `hover`, the revealed links are in the element list."""

from __future__ import annotations

import pytest

from magentic.agents.web_surfer.actions import Actions
from tests.web.helpers import act, find

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


async def test_a_css_mega_menu_opens_on_hover(browsing: Actions, site: str) -> None:
    _, seen = await act(browsing, "visit_url", url=f"{site}/menu.html")
    trigger = find(seen, "Equipment")  # a plain <li> whose :hover rule shows its panel
    assert trigger.in_view
    assert not any(e.name == "Kayaks" for e in seen.state.elements if e.in_view)
    _, seen = await act(browsing, "hover", target_id=trigger.id)
    kayaks = find(seen, "Kayaks", "link")
    assert kayaks.in_view
    _, seen = await act(browsing, "click", target_id=kayaks.id)
    assert seen.state.title == "Beta Lake"


async def test_a_listener_menu_opens_on_hover(browsing: Actions, site: str) -> None:
    _, seen = await act(browsing, "visit_url", url=f"{site}/menu.html")
    company = find(seen, "Company")  # a mouseenter listener shows its panel
    assert "Our stores" not in seen.text
    _, seen = await act(browsing, "hover", target_id=company.id)
    assert find(seen, "Our stores", "link").in_view
    assert "Our stores" in seen.text


async def test_an_aria_popup_trigger_gets_an_id(browsing: Actions, site: str) -> None:
    _, seen = await act(browsing, "visit_url", url=f"{site}/menu.html")
    account = find(seen, "Account")  # a plain span that says it opens a menu
    assert account.in_view and account.state.get("expanded") is False


async def test_a_generic_hover_rule_marks_only_items_with_something_to_show(
    browsing: Actions, site: str
) -> None:
    _, seen = await act(browsing, "visit_url", url=f"{site}/menu.html")
    names = [e.name for e in seen.state.elements]
    assert "Free returns within 30 days" not in names  # `li:hover > ul`, but it has no list
    gifts = find(seen, "Gift cards", "hover menu")
    _, seen = await act(browsing, "hover", target_id=gifts.id)
    assert find(seen, "Buy a gift card", "link").in_view
