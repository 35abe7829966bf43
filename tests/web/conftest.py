"""Fixtures for the WebSurfer tests: the local sites, one browser per module, a session per test.

The browser is real Chromium, headless; a machine without one skips these tests locally and
fails them in CI. Each test module shares one browser (launching costs about half a second)
on a module-wide event loop; every test gets a fresh context whose URL policy allows only
the local site's exact host and port.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.conftest import require
from tests.web.site_server import serve_two_sites


def chromium_available() -> bool:
    """Asked in a child process: Playwright's sync API refuses to run inside an event loop."""
    located = subprocess.run(
        [sys.executable, "-m", "magentic.agents.web_surfer.locate"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return located.returncode == 0


@pytest.fixture(scope="session")
def two_sites() -> Iterator[tuple[str, str]]:
    with serve_two_sites() as bases:
        yield bases


@pytest.fixture(scope="session")
def site(two_sites: tuple[str, str]) -> str:
    return two_sites[0]


@pytest.fixture(scope="session")
def other_site(two_sites: tuple[str, str]) -> str:
    """The same files on another origin (localhost, another port): cross-origin frames."""
    return two_sites[1]


@pytest.fixture(scope="session")
def site_host(site: str) -> str:
    return site.split("://", 1)[1]


@pytest.fixture(scope="session")
def other_host(other_site: str) -> str:
    return other_site.split("://", 1)[1]


@pytest.fixture(scope="session")
def has_chromium() -> bool:
    return chromium_available()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pool(has_chromium: bool) -> AsyncIterator[object]:
    require(has_chromium, "Chromium (scripts/install --browser)")
    from magentic.agents.web_surfer.browser import BrowserPool
    from magentic.agents.web_surfer.settings import WebSurferSettings

    browser_pool = BrowserPool(WebSurferSettings())
    yield browser_pool
    await browser_pool.close()


def web_settings(site_host: str, *more_hosts: str, **overrides: object):  # -> WebSurferSettings
    from magentic.agents.web_surfer.settings import UrlPolicySettings, WebSurferSettings

    fields: dict[str, object] = {
        "url_policy": UrlPolicySettings(allow=[site_host, *more_hosts]),
        "search_url": f"http://{site_host}/search?q={{query}}",
    }
    fields.update(overrides)
    return WebSurferSettings.model_validate(fields)


@pytest_asyncio.fixture(loop_scope="module")
async def browsing(
    pool: object, site_host: str, other_host: str, tmp_path: Path
) -> AsyncIterator[object]:
    """A started session and its Actions, on a fresh context (both local origins allowed)."""
    from magentic.agents.web_surfer.actions import Actions
    from magentic.agents.web_surfer.browser import BrowserSession

    settings = web_settings(site_host, other_host)
    session = BrowserSession(pool, settings, downloads_dir=tmp_path)  # type: ignore[arg-type]
    await session.start()
    yield Actions(session, settings, workspace=tmp_path)
    await session.close()
