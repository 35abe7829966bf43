"""Hostile media through the FileSurfer: truncated audio, a two-hour recording, a scanned PDF
of 10,000 pages. Each gives a clear observation or a bounded result that says what it left
out; none hangs or ends the run."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from magentic.agents.file_viewer import FileViewer
from magentic.testing import ScriptedLLMServer
from magentic.testing.transcription import TranscriptionRequest
from tests.agents.test_file_media import scanned_pdf
from tests.agents.test_file_media_av import Surfer, open_script
from tests.conftest import require


def needs(*tools: str) -> None:
    for tool in tools:
        require(shutil.which(tool) is not None, f"{tool} (scripts/install --media)")


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


async def test_truncated_audio_and_video_get_a_clear_reason(tmp_path: Path) -> None:
    needs("ffmpeg", "ffprobe")
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=300:duration=5", str(tmp_path / "whole.mp3"))
    (tmp_path / "cut.mp3").write_bytes((tmp_path / "whole.mp3").read_bytes()[:150])
    (tmp_path / "cut.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(40))
    viewer = FileViewer([tmp_path])
    try:
        for name in ("cut.mp3", "cut.mp4"):
            view = await viewer.open(name)
            assert not view.ok, view.text
            assert view.text.startswith(f"Could not read {name}: ffprobe failed")
            assert "truncated, damaged or misnamed" in view.text and "Traceback" not in view.text
    finally:
        await viewer.close()


@pytest.mark.slow
async def test_a_two_hour_recording_is_transcribed_up_to_the_limit(tmp_path: Path) -> None:
    needs("ffmpeg", "ffprobe")
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=220:duration=7200",
        "-ac",
        "1",
        "-b:a",
        "8k",
        str(tmp_path / "long.mp3"),
    )

    def transcribe(req: TranscriptionRequest) -> str:
        return f"chunk {req.index + 1} words"

    async with ScriptedLLMServer(open_script("long.mp3"), transcribe=transcribe) as server:
        surfer = Surfer(server, tmp_path)
        surfer.agent.media.transcriber.max_minutes = 3
        surfer.agent.media.transcriber.chunk_s = 60
        try:
            text = await surfer.open()
        finally:
            await surfer.close()
    assert "Duration: 2:00:00" in text
    assert 3 <= len(server.transcriptions) <= 4  # three minutes in one-minute chunks
    assert "[0:00] chunk 1 words" in text and "[1:00] chunk 2 words" in text
    assert "only the first 3 minutes of 2:00:00 were transcribed" in text


@pytest.mark.slow
async def test_a_ten_thousand_page_scan_gives_a_bounded_result(tmp_path: Path) -> None:
    needs("tesseract")
    import pypdfium2 as pdfium

    one = scanned_pdf(tmp_path / "one.pdf", [["Archive box seventeen"]])
    src = pdfium.PdfDocument(str(one))
    pdf = pdfium.PdfDocument.new()
    pdf.import_pages(src, [0] * 10_000)
    pdf.save(str(tmp_path / "huge.pdf"))
    pdf.close()
    src.close()
    viewer = FileViewer([tmp_path])
    try:
        view = await viewer.open("huge.pdf")
        assert view.ok, view.text
        text = viewer.document.text  # type: ignore[union-attr]
    finally:
        await viewer.close()
    assert "a scanned PDF of 10000 pages" in text
    assert text.count("Archive box seventeen") == 30  # the pages read, no more
    assert "170 more scanned pages (from page 31) were not OCR'd" in text
    assert "pages 201 to 10000 were not examined" in text
