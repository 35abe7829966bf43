"""Settings, the team seam and the pieces that need no browser (marks, chunks, locating)."""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path

import pytest
from PIL import Image
from pydantic import ValidationError

from magentic.agents.base import AgentContext, SharedResources
from magentic.agents.web_surfer.agent import WebSurfer
from magentic.agents.web_surfer.browser import BrowserPool
from magentic.agents.web_surfer.locate import find_chromium, main
from magentic.agents.web_surfer.marks import Box, color_of, render_screenshot
from magentic.agents.web_surfer.reading import chunks, html_to_markdown
from magentic.agents.web_surfer.settings import WebSurferSettings
from magentic.agents.web_surfer.tools import TOOLS
from magentic.config import load_config
from magentic.errors import BrowserError
from magentic.events import EventBus
from magentic.llm.client import ModelClient
from tests.conftest import require


def _context(
    overrides: dict[str, object], tmp_path: Path, resources: SharedResources | None = None
) -> AgentContext:
    config = load_config(overrides=overrides, environ={})
    return AgentContext(
        config=config,
        events=EventBus(),
        workspace=tmp_path,
        files=[],
        client_for=lambda role: ModelClient(config.model_for(role), role=role),
        resources=resources or SharedResources(),
    )


def test_cli_flags_reach_the_surfer_through_the_config(tmp_path: Path) -> None:
    ctx = _context({"web.headless": False, "web.slow_mo_ms": 250, "web.text_only": True}, tmp_path)
    surfer = WebSurfer.from_context(ctx)
    assert surfer.settings.headless is False
    assert surfer.settings.slow_mo_ms == 250
    assert surfer.settings.draw_marks_on_page() is True  # headed: marks on the page too
    assert surfer.vision is False
    assert surfer.client.role == "web_surfer"


@pytest.mark.browser
async def test_a_shared_browser_pool_is_used_and_left_open(
    tmp_path: Path, has_chromium: bool
) -> None:
    """A bench lends one browser to every task: a surfer that closes must leave it running
    for the next task, while a surfer with a pool of its own closes that pool."""
    require(has_chromium, "Chromium (scripts/install --browser)")
    pool = BrowserPool(WebSurferSettings())
    try:
        shared = WebSurfer.from_context(_context({}, tmp_path, SharedResources(browser_pool=pool)))
        assert shared.pool is pool
        browser = await pool.browser()
        await shared.close()
        assert browser.is_connected(), "closing a task's surfer closed the shared browser"
        assert await pool.browser() is browser and pool.launches == 1
    finally:
        await pool.close()
    alone = WebSurfer.from_context(_context({}, tmp_path))
    own = await alone.pool.browser()
    await alone.close()
    assert not own.is_connected(), "a surfer's own browser outlived the surfer"


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValidationError, match="search_url must contain"):
        WebSurferSettings(search_url="https://example.com/search")
    with pytest.raises(ValidationError):
        WebSurferSettings.model_validate({"screenshot_format": "gif"})
    with pytest.raises(ValidationError):
        WebSurferSettings.model_validate({"no_such_option": 1})


def test_tool_schemas_stay_small() -> None:
    # Every call carries them: keep them to roughly a thousand tokens (4 characters each).
    size = sum(len(json.dumps(t.to_openai())) for t in TOOLS)
    assert size < 4500, size
    names = [t.name for t in TOOLS]
    for required in (
        "visit_url",
        "web_search",
        "click",
        "input_text",
        "select_option",
        "press_key",
        "hover",
        "scroll",
        "history_back",
        "refresh",
        "tab",
        "upload_file",
        "download",
        "read_page",
        "answer_question",
        "summarize_page",
        "sleep",
    ):
        assert required in names


def test_marks_are_drawn_scaled_and_compressed() -> None:
    page = Image.new("RGB", (1280, 720), "white")
    raw = io.BytesIO()
    page.save(raw, "PNG")
    box = Box(7, 100, 100, 200, 50)
    for fmt, mime in (("jpeg", "image/jpeg"), ("webp", "image/webp"), ("png", "image/png")):
        shot = render_screenshot(raw.getvalue(), [box], css_width=1280, fmt=fmt, max_width=640)
        assert shot.mime == mime and (shot.width, shot.height) == (640, 360)
        image = Image.open(io.BytesIO(shot.data)).convert("RGB")
        assert image.size == (640, 360)
        # The box's outline is at half scale; its inside stays white.
        edge, inside = image.getpixel((50 + 40, 50)), image.getpixel((100, 62))
        assert isinstance(edge, tuple) and isinstance(inside, tuple)
        assert sum(abs(a - b) for a, b in zip(edge, color_of(7), strict=True)) < 90
        assert min(inside) >= 240
    jpeg = render_screenshot(raw.getvalue(), [], css_width=1280, fmt="jpeg", quality=30)
    assert jpeg.width == 1024  # the default cap


def test_chunks_cut_at_paragraphs_and_cover_everything() -> None:
    text = "\n\n".join(f"Paragraph {i} " + "word " * 50 for i in range(40))
    parts = chunks(text, 2000)
    assert all(len(p) <= 2000 for p in parts)
    assert all(p.startswith("Paragraph") for p in parts)
    assert sum(p.count("Paragraph") for p in parts) == 40


def test_html_becomes_markdown() -> None:
    markdown = html_to_markdown(
        "<html><body><h1>Title</h1><p>Some <b>bold</b> text.</p>"
        "<table><tr><th>a</th></tr><tr><td>1</td></tr></table></body></html>",
        "http://127.0.0.1/x",
    )
    assert "# Title" in markdown and "**bold**" in markdown and "| a |" in markdown


def test_locate_prefers_a_configured_path_and_names_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = tmp_path / "my-chrome"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.delenv("MAGENTIC_CHROMIUM", raising=False)
    assert find_chromium(str(fake)) == str(fake)
    monkeypatch.setenv("MAGENTIC_CHROMIUM", str(fake))
    assert find_chromium() == str(fake)
    assert main([]) == 0 and capsys.readouterr().out.strip() == str(fake)
    monkeypatch.setenv("MAGENTIC_CHROMIUM", str(tmp_path / "missing"))
    with pytest.raises(BrowserError, match="is not an executable file"):
        find_chromium()
    assert main([]) == 1
    assert "MAGENTIC_CHROMIUM" in capsys.readouterr().err
    monkeypatch.delenv("MAGENTIC_CHROMIUM")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    if not any(
        os.access(p, os.X_OK)
        for p in ("/usr/bin/chromium", "/usr/bin/google-chrome", "/usr/bin/chromium-browser")
    ):
        with pytest.raises(BrowserError, match="no Chromium found"):
            find_chromium(managed=str(tmp_path / "not-downloaded"))
    else:  # the system browser is the last resort
        assert find_chromium(managed=str(tmp_path / "not-downloaded")).startswith("/usr/bin/")
