"""The web view in real Chromium: a run page opened mid-run catches up, then its script
follows the growing trace and the page updates; hostile text stays text."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, async_playwright

from magentic.events import (
    AgentReplied,
    Delegated,
    Event,
    LedgerUpdated,
    ModelDelta,
    RunFinished,
    RunStarted,
)
from magentic.ui.web.app import WebView

from ..conftest import require


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    async with async_playwright() as p:
        try:
            browser = await p.chromium.launch(
                executable_path=shutil.which("chromium") or shutil.which("chromium-browser"),
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
        except PlaywrightError as error:
            require(False, f"Chromium ({str(error).splitlines()[0]})")
        try:
            yield await browser.new_page()
        finally:
            await browser.close()


@pytest.mark.browser
async def test_a_run_page_updates_as_the_trace_grows(page: Page, tmp_path: Path) -> None:
    run = tmp_path / "runs" / "live"
    run.mkdir(parents=True)
    trace = run / "trace.jsonl"
    seq = iter(range(1, 100))

    def line(event: Event) -> str:
        event.run_id, event.seq = "live", next(seq)
        return event.model_dump_json() + "\n"

    trace.write_text(
        line(RunStarted(task="watch me live", agents=["Coder"]))
        + line(LedgerUpdated(replan=0, facts="-", plan="1. Coder: write it"))
    )
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    view = WebView([tmp_path / "runs"], 0, poll_s=0.05)
    url = await view.start()
    try:
        await page.goto(view.link("run/0/live"))  # the printed link: key, cookie, redirect
        assert page.url == f"{url}run/0/live"
        assert "1. Coder: write it" in await page.inner_text("#events")
        # Streamed text first (shown until the next trace line replaces it), then the trace.
        view.streams.push(ModelDelta(run_id="live", role="coder", text="<i>typing on", chars=12))
        await page.wait_for_selector("#streaming:has-text('coder: <i>typing')", timeout=15000)
        with trace.open("a") as handle:
            handle.write(line(Delegated(round=1, agent="Coder", instruction="write it now")))
            handle.write(
                line(AgentReplied(round=1, agent="Coder", text="<img src=x onerror=boom()>"))
            )
        await page.wait_for_selector("text=round 1 → Coder", timeout=15000)
        await page.wait_for_selector("text=<img src=x onerror=boom()>", timeout=15000)
        with trace.open("a") as handle:
            handle.write(line(RunFinished(status="answered", stop_reason="done", rounds=1)))
        await page.wait_for_selector("body[data-ended='1']", timeout=15000)
        status = await page.inner_text("#status")
        images = await page.locator("#events img, #streaming i").count()
        streaming_after = await page.inner_text("#streaming")
        await page.screenshot(path=str(tmp_path / "run-page.png"), full_page=True)
    finally:
        await view.stop()
    assert "answered" in status and "1 rounds" in status
    assert (
        images == 0 and streaming_after == "" and not errors
    )  # the hostile reply stayed text; no script error
    assert (tmp_path / "run-page.png").stat().st_size > 1000
