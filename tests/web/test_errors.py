"""Failures come back as observations the model can act on; crashes are recovered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from magentic.agents.web_surfer.actions import Actions
from magentic.agents.web_surfer.browser import BrowserPool, BrowserSession
from tests.web.conftest import web_settings
from tests.web.helpers import act, find

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


async def test_http_errors_are_reported(browsing: Actions, site: str) -> None:
    result, seen = await act(browsing, "visit_url", url=f"{site}/status/500")
    assert result.error is None  # the page loaded; it just says the server failed
    assert "The server answered HTTP 500." in seen.text
    assert "Error 500" in seen.text
    _, seen = await act(browsing, "visit_url", url=f"{site}/status/404")
    assert "The server answered HTTP 404." in seen.text


async def test_unknown_host_is_reported(browsing: Actions) -> None:
    result, seen = await act(browsing, "visit_url", url="http://no-such-host.invalid/page")
    assert "the name no-such-host.invalid could not be resolved" in seen.text
    result, seen = await act(browsing, "visit_url", url="https://no-such-host.invalid/page")
    assert result.error == (
        "https://no-such-host.invalid/page could not be loaded: "
        "the name no-such-host.invalid could not be resolved."
    )


async def test_missing_element_and_bad_arguments(browsing: Actions, site: str) -> None:
    await act(browsing, "visit_url", url=f"{site}/form.html")
    result, seen = await act(browsing, "click", target_id=999)
    assert result.error == (
        "there is no element [999] on the page now; use an id from the latest list"
    )
    assert seen.state.title == "Order form"
    result, _ = await act(browsing, "click", target_id="Submit")
    assert result.error is not None
    assert result.error.startswith("bad arguments for click: target_id: Input should be a valid")
    result, _ = await act(browsing, "click")
    assert result.error == "bad arguments for click: target_id: Field required"
    result, seen = await act(
        browsing, "click", target_id=find(seen, "Click counter").id, reason="extra words"
    )
    assert result.error is None and find(seen, "Clicked 1 times")
    result, _ = await act(browsing, "sleep", seconds="a while")
    assert result.error is not None and result.error.startswith("bad arguments")
    result, _ = await act(browsing, "visit_url", url="cheap flights to Rome")
    assert result.error is not None and "use web_search" in result.error
    result, _ = await act(browsing, "input_text", target_id=find(seen, "Color").id, text="x")
    assert result.error is not None and "use select_option" in result.error


async def test_navigation_timeout_is_an_observation(
    pool: BrowserPool, site_host: str, site: str, tmp_path: Path
) -> None:
    settings = web_settings(site_host, navigation_timeout_s=0.5)
    session = BrowserSession(pool, settings, downloads_dir=tmp_path)
    await session.start()
    try:
        actions = Actions(session, settings, workspace=tmp_path)
        result, seen = await act(actions, "visit_url", url=f"{site}/slow?ms=2500")
        assert result.error is not None and "Timeout 500ms exceeded" in result.error
        # The browser is still usable afterwards.
        result, seen = await act(actions, "visit_url", url=f"{site}/articles/beta.html")
        assert result.error is None and seen.state.title == "Beta Lake"
    finally:
        await session.close()


async def _crash_page(session: BrowserSession) -> None:
    page = await session.ready_page()
    cdp = await session.cdp(page)
    # Page.crash never answers (the renderer is gone), so it is sent and not awaited.
    sent = asyncio.ensure_future(cdp.send("Page.crash"))
    for _ in range(100):
        if session.crashed(page):
            break
        await asyncio.sleep(0.05)
    sent.cancel()
    assert session.crashed(page)


async def test_a_crashed_page_is_reopened(browsing: Actions, site: str) -> None:
    await act(browsing, "visit_url", url=f"{site}/articles/alpha.html")
    await _crash_page(browsing.session)
    result, seen = await act(browsing, "scroll", direction="down")
    assert f"The page had crashed; it was reopened at {site}/articles/alpha.html." in seen.text
    assert seen.state.title == "Alpha Peak"
    assert result.error is None


@pytest_asyncio.fixture(loop_scope="module")
async def own_pool(has_chromium: bool) -> AsyncIterator[BrowserPool]:
    """A browser of its own: the test below kills it."""
    from tests.conftest import require

    require(has_chromium, "Chromium (scripts/install --browser)")
    browser_pool = BrowserPool()
    yield browser_pool
    await browser_pool.close()


async def test_a_crashed_browser_is_restarted(
    own_pool: BrowserPool, site_host: str, site: str, tmp_path: Path
) -> None:
    settings = web_settings(site_host)
    session = BrowserSession(own_pool, settings, downloads_dir=tmp_path)
    await session.start()
    try:
        actions = Actions(session, settings, workspace=tmp_path)
        await act(actions, "visit_url", url=f"{site}/articles/alpha.html")
        await act(actions, "tab", action="open", url=f"{site}/articles/beta.html")
        browser = await own_pool.browser()
        cdp = await browser.new_browser_cdp_session()
        sent = asyncio.ensure_future(cdp.send("Browser.crash"))
        for _ in range(100):
            if not browser.is_connected():
                break
            await asyncio.sleep(0.05)
        sent.cancel()
        assert not browser.is_connected()

        _, seen = await act(actions, "scroll", direction="down")
        assert "The browser had crashed; it was restarted and the tabs reloaded." in seen.text
        assert own_pool.launches == 2
        assert [await t.title() for t in session.tabs] == ["Alpha Peak", "Beta Lake"]
        assert seen.state.title == "Beta Lake"  # the active tab is kept
    finally:
        await session.close()
