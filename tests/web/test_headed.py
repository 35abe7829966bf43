"""Headed debug mode: a real browser window on an Xvfb display, with slow motion and the
element marks drawn into the page for the person watching."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from magentic.agents.web_surfer.actions import Actions
from magentic.agents.web_surfer.browser import BrowserPool, BrowserSession
from magentic.agents.web_surfer.observe import observe
from magentic.errors import BrowserError
from tests.conftest import require
from tests.web.conftest import web_settings
from tests.web.helpers import act, find

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

COUNT_MARKS_JS = """() => {
  const host = document.getElementById('__magentic_marks');
  return host ? host.shadowRoot.children.length : -1;
}"""


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    require(shutil.which("Xvfb") is not None, "Xvfb (apt-get install xvfb)")
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    with os.fdopen(read_end) as numbers:
        number = numbers.readline().strip()  # Xvfb writes its display number when ready
    try:
        assert number.isdigit(), "Xvfb did not report a display"
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(10)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def headed(
    display: str, has_chromium: bool, site_host: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Actions]:
    require(has_chromium, "Chromium (scripts/install --browser)")
    settings = web_settings(site_host, headless=False, slow_mo_ms=20)
    previous = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = display
    pool = BrowserPool(settings)
    workspace: Path = tmp_path_factory.mktemp("headed")
    session = BrowserSession(pool, settings, downloads_dir=workspace)
    try:
        await session.start()
        yield Actions(session, settings, workspace=workspace)
    finally:
        await session.close()
        await pool.close()
        if previous is None:
            os.environ.pop("DISPLAY", None)
        else:
            os.environ["DISPLAY"] = previous


async def test_headed_browser_runs_under_xvfb_with_marks_on_the_page(
    headed: Actions, site: str
) -> None:
    _, seen = await act(headed, "visit_url", url=f"{site}/form.html")
    page = await headed.session.ready_page()
    user_agent = await page.evaluate("navigator.userAgent")
    assert "HeadlessChrome" not in user_agent  # a real window, not the headless shell
    in_view = [e for e in seen.state.elements if e.in_view]
    assert await page.evaluate(COUNT_MARKS_JS) == len(in_view)
    # The overlay takes no clicks: actions go through it to the page.
    _, seen = await act(headed, "click", target_id=find(seen, "Click counter").id)
    assert find(seen, "Clicked 1 times")
    # Marks are redrawn for the new state, not stacked.
    await observe(headed.session, page, headed.settings, screenshot=True)
    assert await page.evaluate(COUNT_MARKS_JS) == len(in_view)
    assert seen.screenshot is not None and seen.screenshot.width <= 1024


async def test_headed_mode_without_a_display_says_what_is_missing(
    site_host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    pool = BrowserPool(web_settings(site_host, headless=False))
    with pytest.raises(BrowserError, match="headed mode needs a display"):
        await pool.browser()
