"""The static site server serves the suite's real files; the sites' scripts work in Chromium."""

from __future__ import annotations

import shutil
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, async_playwright

from magentic.bench.sites import SiteServer

from ..conftest import require
from .solvers import LOCAL_SUITE

SITES = LOCAL_SUITE / "sites"


async def test_serves_real_files_with_types_and_404() -> None:
    async with SiteServer(SITES) as server, httpx.AsyncClient(base_url=server.base_url) as client:
        assert server.base_url.startswith("http://127.0.0.1:")
        page = await client.get("/city/stations.html")
        assert page.status_code == 200
        assert page.text == (SITES / "city" / "stations.html").read_text(encoding="utf-8")
        assert page.headers["content-type"].startswith("text/html")
        index = await client.get("/shop/products.json")
        assert index.headers["content-type"] == "application/json"
        assert index.json()[0]["sku"] == "HH-1001"
        script = await client.get("/shop/search.js")
        assert script.headers["content-type"].startswith("text/javascript")
        assert (await client.get("/")).text == (SITES / "index.html").read_text(encoding="utf-8")
        assert (await client.get("/nope.html")).status_code == 404
        outside = await client.get("/../metadata.jsonl")
        assert outside.status_code == 404  # only the site folder is served


def test_sync_use_and_stop_frees_the_port(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("hello")
    with SiteServer(tmp_path) as server:
        url = server.base_url
        with urllib.request.urlopen(f"{url}/a.txt") as reply:
            assert reply.read() == b"hello"
    with pytest.raises(RuntimeError):
        _ = server.base_url
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{url}/a.txt", timeout=2)


def test_missing_folder() -> None:
    with pytest.raises(FileNotFoundError):
        SiteServer("/no/such/folder")


def _chromium() -> str | None:
    for candidate in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(candidate)
        if path:
            return path
    return None


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    """A page of a real Chromium: the system's if there is one, else Playwright's own."""
    async with async_playwright() as p:
        try:
            browser = await p.chromium.launch(
                executable_path=_chromium(),
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
        except PlaywrightError as error:
            require(False, f"Chromium ({str(error).splitlines()[0]})")
        try:
            yield await browser.new_page()
        finally:
            await browser.close()


@pytest.mark.browser
async def test_search_page_finds_products_in_a_real_browser(page: Page) -> None:
    async with SiteServer(SITES) as server:
        await page.goto(f"{server.base_url}/shop/search.html")
        await page.fill("#q", "kestrel")
        await page.click("button[type=submit]")
        await page.wait_for_selector("#results li")
        items = await page.locator("#results li").all_inner_texts()
        assert len(items) == 4 and all("Kestrel Tools" in item for item in items)
        assert "4 product(s)" in await page.inner_text("#count")
        await page.click("text=Cordless Drill 18V")
        assert "1.65 kg" in await page.inner_text("body")


@pytest.mark.browser
async def test_fare_form_shows_the_fare_in_a_real_browser(page: Page) -> None:
    async with SiteServer(SITES) as server:
        await page.goto(f"{server.base_url}/transit/fares.html")
        await page.select_option("#from", "1")
        await page.select_option("#to", "4")
        await page.select_option("#rider", "senior")
        await page.select_option("#period", "peak")
        await page.click("text=Calculate fare")
        await page.wait_for_url("**/fare-result.html?*")
        text = await page.inner_text("#fare")
    # the same number the suite's truth was computed from (read from the page's fare table)
    truth = next(
        line for line in (LOCAL_SUITE / "metadata.jsonl").read_text().splitlines()
        if '"web-fare-senior"' in line
    )  # fmt: skip
    assert "senior rider from zone 1 to zone 4, at peak time: $2.84" in text
    assert '"Final answer": "2.84"' in truth
