"""Chromium keeps its own sandbox, also when we run as root (as the unprivileged
`[web] sandbox_user`); where it cannot, the pool says why, once (issue 8)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from magentic.agents.web_surfer.actions import Actions
from magentic.agents.web_surfer.browser import BrowserPool, BrowserSession
from magentic.agents.web_surfer.sandbox_user import running_as_root, user_exists
from tests.conftest import require
from tests.web.conftest import web_settings
from tests.web.helpers import act
from tests.web.procs import renderers, status

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(loop_scope="module")
async def own_pool(has_chromium: bool, site_host: str) -> AsyncIterator[BrowserPool]:
    require(has_chromium, "Chromium (scripts/install --browser)")
    browser_pool = BrowserPool(web_settings(site_host))
    yield browser_pool
    await browser_pool.close()


async def test_renderers_run_in_chromiums_sandbox(
    own_pool: BrowserPool, site_host: str, site: str, tmp_path: Path
) -> None:
    if running_as_root():
        require(user_exists("magentic-browser"), "the magentic-browser user (scripts/install)")
    settings = web_settings(site_host)
    session = BrowserSession(own_pool, settings, downloads_dir=tmp_path)
    await session.start()
    try:
        _, seen = await act(
            Actions(session, settings, workspace=tmp_path),
            "visit_url",
            url=f"{site}/articles/alpha.html",
        )
        assert seen.state.title == "Alpha Peak"
        assert own_pool.sandbox == "on"
        found = [status(pid) for pid in renderers()]
        assert found
        for fields in found:
            assert fields["Uid"].split()[0] != "0"  # not root
            assert fields["Seccomp"] == "2"  # Chromium's seccomp-bpf filter is on
    finally:
        await session.close()


@pytest.mark.skipif(not running_as_root(), reason="only root needs another user")
async def test_without_its_user_chromium_runs_unsandboxed_and_says_so_once(
    has_chromium: bool, site_host: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    require(has_chromium, "Chromium (scripts/install --browser)")
    pool = BrowserPool(web_settings(site_host, sandbox_user="no-such-user"))
    caplog.set_level(logging.WARNING, logger="magentic.agents.web_surfer.browser")
    try:
        first = await pool.browser()
        await first.close()  # as if it crashed: the next call launches again
        await pool.browser()
        assert pool.launches == 2
        why = "there is no user 'no-such-user' (scripts/install --browser)"
        assert pool.sandbox == f"off: {why}"
        said = [r.getMessage() for r in caplog.records]
        assert said == [f"Chromium runs without its sandbox: {why}"]
    finally:
        await pool.close()
