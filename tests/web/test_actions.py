"""Every browser action on real Chromium, on the local sites: the page changes as expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from magentic.agents.web_surfer.actions import Actions
from tests.web.helpers import act, find

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


async def test_visit_url_observes_title_elements_and_text(browsing: Actions, site: str) -> None:
    result, seen = await act(browsing, "visit_url", url=f"{site}/form.html")
    assert result.error is None
    assert seen.state.title == "Order form"
    assert seen.state.url == f"{site}/form.html"
    assert "Page: Order form" in seen.text
    name = find(seen, "Full name")
    assert name.role == "textbox" and name.in_view
    color = find(seen, "Color")
    assert color.role == "combobox" and color.name == "Color"  # the label, not its options
    assert color.state["options"] == ["Red", "Green", "Blue"]
    assert f'[{name.id}] textbox "Full name"' in seen.text
    assert seen.screenshot is not None and seen.screenshot.width <= 1024


async def test_click_changes_the_page(browsing: Actions, site: str) -> None:
    _, seen = await act(browsing, "visit_url", url=f"{site}/form.html")
    counter = find(seen, "Click counter")
    await act(browsing, "click", target_id=counter.id)
    result, seen = await act(browsing, "click", target_id=counter.id)
    assert result.error is None
    assert find(seen, "Clicked 2 times").id == counter.id  # the same element keeps its id


async def test_click_on_a_link_navigates(browsing: Actions, site: str) -> None:
    _, seen = await act(browsing, "visit_url", url=f"{site}/links.html")
    _, seen = await act(browsing, "click", target_id=find(seen, "Alpha article").id)
    assert seen.state.title == "Alpha Peak"
    assert "4,321 metres" in seen.text


async def test_navigations_started_by_scripts_and_redirects_are_followed(
    browsing: Actions, site: str
) -> None:
    _, seen = await act(browsing, "visit_url", url=f"{site}/links.html")
    _, seen = await act(browsing, "click", target_id=find(seen, "Gamma after a moment").id)
    assert seen.state.title == "Gamma River"
    _, seen = await act(browsing, "history_back")
    _, seen = await act(browsing, "click", target_id=find(seen, "Gamma via a redirect").id)
    assert seen.state.title == "Gamma River"
    assert seen.state.url == f"{site}/articles/gamma.html"


async def test_form_fill_select_check_and_submit(browsing: Actions, site: str) -> None:
    _, seen = await act(browsing, "visit_url", url=f"{site}/form.html")
    await act(browsing, "input_text", target_id=find(seen, "Full name").id, text="Ada Lovelace")
    await act(browsing, "select_option", target_id=find(seen, "Color").id, option="Blue")
    await act(browsing, "click", target_id=find(seen, "Gift wrap").id)
    # A styled checkbox: the input is invisible, its label stands in for it.
    await act(browsing, "click", target_id=find(seen, "Express delivery").id)
    _, seen = await act(browsing, "click", target_id=find(seen, "Large", "radio").id)
    assert find(seen, "Color").state["value"] == "Blue"
    assert find(seen, "Express delivery").state["checked"] is True
    _, seen = await act(
        browsing, "input_text", target_id=find(seen, "Comment").id, text="fast", submit=False
    )
    _, seen = await act(browsing, "click", target_id=find(seen, "Submit", "button").id)
    assert seen.state.title == "Form received"
    for line in ("name = Ada Lovelace", "color = Blue", "gift = yes", "express = yes", "size = L"):
        assert line in seen.text


async def test_select_option_reports_the_options_it_has(browsing: Actions, site: str) -> None:
    _, seen = await act(browsing, "visit_url", url=f"{site}/form.html")
    result, _ = await act(
        browsing, "select_option", target_id=find(seen, "Color").id, option="Purple"
    )
    assert result.error is not None
    assert "Red, Green, Blue" in result.error


async def test_input_text_with_submit_searches(browsing: Actions, site: str) -> None:
    _, seen = await act(browsing, "visit_url", url=f"{site}/search.html")
    box = find(seen, "Search terms")
    _, seen = await act(browsing, "input_text", target_id=box.id, text="lake", submit=True)
    assert seen.state.title == "lake - Local Search"
    assert "Beta Lake" in seen.text
    assert find(seen, "Search terms").state["value"] == "lake"


async def test_web_search_uses_the_template(browsing: Actions, site: str) -> None:
    result, seen = await act(browsing, "web_search", query="alpha peak")
    assert result.error is None
    assert seen.state.url.startswith(f"{site}/search?q=alpha+peak")
    find(seen, "Alpha Peak", "link")


async def test_press_key_and_hover(browsing: Actions, site: str) -> None:
    _, seen = await act(browsing, "visit_url", url=f"{site}/keys.html")
    await act(browsing, "click", target_id=find(seen, "Type here").id)
    _, seen = await act(browsing, "press_key", keys="Escape")
    assert "Last key: Escape" in seen.text
    result, _ = await act(browsing, "press_key", keys="NoSuchKey")
    assert result.error is not None and "NoSuchKey" in result.error

    _, seen = await act(browsing, "visit_url", url=f"{site}/hover.html")
    assert "7 lamps" not in seen.text
    _, seen = await act(browsing, "hover", target_id=find(seen, "Hover over me").id)
    assert "Tooltip: there are 7 lamps." in seen.text


async def test_scroll_the_page_and_an_inner_area(browsing: Actions, site: str) -> None:
    _, seen = await act(browsing, "visit_url", url=f"{site}/long.html")
    assert "top of the page" in seen.text
    assert "the answer is 99" not in seen.text
    _, seen = await act(browsing, "scroll", direction="down")
    assert seen.state.scroll_y > 0
    for _ in range(60):
        result, seen = await act(browsing, "scroll", direction="down")
        if "already at the bottom" in result.summary:
            break
    assert "bottom of the page" in seen.text
    assert "the answer is 99" in seen.text
    _, seen = await act(browsing, "scroll", direction="up")
    assert "bottom of the page" not in seen.text

    _, seen = await act(browsing, "visit_url", url=f"{site}/long.html")
    box = find(seen, "Inner", "scrollable area")
    assert "box code is 5150" not in seen.text
    for _ in range(10):
        result, seen = await act(browsing, "scroll", direction="down", target_id=box.id)
        if "already at the bottom" in result.summary:
            break
    assert "box code is 5150" in seen.text
    assert seen.state.scroll_y == 0  # the page itself did not move


async def test_history_back_and_refresh(browsing: Actions, site: str) -> None:
    result, _ = await act(browsing, "history_back")
    assert result.error == "there is no earlier page in this tab"
    await act(browsing, "visit_url", url=f"{site}/articles/alpha.html")
    await act(browsing, "visit_url", url=f"{site}/articles/beta.html")
    _, seen = await act(browsing, "history_back")
    assert seen.state.title == "Alpha Peak"
    _, seen = await act(browsing, "click", target_id=find(seen, "Show more facts").id)
    assert "12 square kilometres" in seen.text
    _, seen = await act(browsing, "refresh")
    assert seen.state.title == "Alpha Peak"
    assert "12 square kilometres" not in seen.text  # the reload reset the page


async def test_late_content_is_waited_for(browsing: Actions, site: str) -> None:
    # The page fetches its content 400 ms after loading; settling waits for that request
    # and the DOM change it causes, without a fixed sleep.
    _, seen = await act(browsing, "visit_url", url=f"{site}/late.html")
    assert "Late content: 42 apples" in seen.text
    _, seen = await act(browsing, "click", target_id=find(seen, "Load again").id)
    assert "Late content: 42 apples" in seen.text
    assert "Loading..." not in seen.text


async def test_new_tab_popup_switch_and_close(browsing: Actions, site: str) -> None:
    session = browsing.session
    _, seen = await act(browsing, "visit_url", url=f"{site}/links.html")
    _, seen = await act(browsing, "click", target_id=find(seen, "Beta article").id)
    assert seen.state.title == "Beta Lake"  # the new tab is followed
    assert len(session.tabs) == 2 and session.tab_index() == 2
    assert "A new tab opened (tab 2)" in seen.text
    assert "Tabs: [1] Links and tabs; [2] Beta Lake (active)" in seen.text

    _, seen = await act(browsing, "tab", action="switch", number=1)
    assert seen.state.title == "Links and tabs"
    _, seen = await act(browsing, "click", target_id=find(seen, "Open popup").id)
    assert seen.state.title == "Popup window"
    assert "3141" in seen.text
    assert len(session.tabs) == 3

    _, seen = await act(browsing, "tab", action="close", number=3)
    assert len(session.tabs) == 2
    result, _ = await act(browsing, "tab", action="switch", number=7)
    assert result.error == "there is no tab 7; the tabs are 1 to 2"
    _, seen = await act(browsing, "tab", action="open", url=f"{site}/articles/gamma.html")
    assert seen.state.title == "Gamma River" and session.tab_index() == 3


async def test_dialogs_are_answered_and_reported(browsing: Actions, site: str) -> None:
    _, seen = await act(browsing, "visit_url", url=f"{site}/dialog.html")
    _, seen = await act(browsing, "click", target_id=find(seen, "Save").id)
    assert "A alert dialog said 'Saved!'; it was accepted." in seen.text
    _, seen = await act(browsing, "click", target_id=find(seen, "Delete").id)
    assert "Confirmed: true" in seen.text
    assert "'Delete the file?'" in seen.text
    _, seen = await act(browsing, "click", target_id=find(seen, "Ask name").id)
    assert "Name: Ada" in seen.text


async def test_download_lands_in_the_workspace(browsing: Actions, site: str) -> None:
    _, seen = await act(browsing, "visit_url", url=f"{site}/download.html")
    result, seen = await act(browsing, "download", target_id=find(seen, "quarterly report").id)
    assert result.error is None
    assert [f.name for f in result.files] == ["report.csv"]
    assert result.files[0].parent == browsing.workspace
    assert result.files[0].read_text().startswith("quarter,revenue")
    assert "Downloaded report.csv" in seen.text
    # A plain click on a download link saves it too, under a new name.
    result, _ = await act(browsing, "click", target_id=find(seen, "quarterly report").id)
    assert [f.name for f in result.files] == ["report-2.csv"]


async def test_upload_a_task_file(browsing: Actions, site: str, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("first line of notes\nsecond\n")
    _, seen = await act(browsing, "visit_url", url=f"{site}/upload.html")
    field = find(seen, "Attachment")
    result, _ = await act(browsing, "upload_file", target_id=field.id, path="/etc/hostname")
    assert result.error is not None and "not a file of this task" in result.error
    result, seen = await act(browsing, "upload_file", target_id=field.id, path="notes.txt")
    assert result.error is None
    assert find(seen, "Attachment").state["value"] == "notes.txt"
    _, seen = await act(browsing, "click", target_id=find(seen, "Upload", "button").id)
    assert "notes.txt: 27 bytes, first line: first line of notes" in seen.text


async def test_sleep_waits_and_observes(browsing: Actions, site: str) -> None:
    await act(browsing, "visit_url", url=f"{site}/articles/alpha.html")
    result, seen = await act(browsing, "sleep", seconds=0.2)
    assert result.summary == "Waited 0.2 seconds."
    assert seen.state.title == "Alpha Peak"


async def test_sixty_element_page_fits_the_budget(browsing: Actions, site: str) -> None:
    _, seen = await act(browsing, "visit_url", url=f"{site}/many.html")
    in_view = [e for e in seen.state.elements if e.in_view]
    assert len(in_view) == 60
    assert len(seen.text) <= 2500
    assert [e.id for e in in_view if f"[{e.id}]" not in seen.text] == []  # every one listed
    assert seen.screenshot is not None
    assert seen.screenshot.width <= 1024 and seen.screenshot.mime == "image/jpeg"


async def test_visit_url_resolves_relative_links_and_survives_a_failure(
    browsing: Actions, site: str
) -> None:
    await act(browsing, "visit_url", url=f"{site}/links.html")
    _, seen = await act(browsing, "visit_url", url="articles/beta.html")
    assert seen.state.url == f"{site}/articles/beta.html"
    _, seen = await act(browsing, "visit_url", url="gamma.html")  # next to beta.html
    assert seen.state.title == "Gamma River"
    # A host that does not exist: the navigation fails, the page and its history stay.
    result, seen = await act(browsing, "visit_url", url="http://no-such-host.invalid/x.html")
    assert result.error is not None and "no-such-host.invalid" in result.error, result
    assert seen.state.url == f"{site}/articles/gamma.html"
    _, seen = await act(browsing, "history_back")
    assert seen.state.url == f"{site}/articles/beta.html"
