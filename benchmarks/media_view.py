"""The FileSurfer's media numbers, for benchmarks/file_view.py (which prints them).

- `audio_1min`: first look at a 1-minute MP3 (worker conversion, upload, transcript cached),
  minus the time spent inside the transcription endpoint, and the tokens of what it shows.
- `video_1min`: first look at a 1-minute video (key frames OCR'd, audio track cut and
  transcribed), minus the endpoint's time, and its tokens.
- `ocr_ms_per_page`: a scanned PDF's OCR, per page (pages a person reads easily).
- `hostile`: per hostile file, the observation's first words, the seconds it took, and the
  conversion worker's peak RSS above its idle RSS (MB).
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from magentic.agents.base import StepContext
from magentic.agents.file_settings import FileSurferSettings
from magentic.agents.file_surfer import FileSurfer
from magentic.agents.file_viewer import FileViewer, estimate_tokens
from magentic.agents.file_worker import peak_rss_kb
from magentic.events import EventBus
from magentic.llm.client import ModelClient
from magentic.llm.settings import ModelSettings
from magentic.testing import ScriptedLLMServer
from magentic.testing.transcription import TranscriptionRequest
from tests.agents.test_file_media import scanned_pdf
from tests.agents.test_file_media_av import make_video, speech_like_wav


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


class _TimedEndpoint:
    """A transcription route that says how long it spent (the endpoint's own time)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self, req: TranscriptionRequest) -> dict[str, Any]:
        started = time.perf_counter()
        answer = {
            "text": "spoken words",
            "segments": [{"start": 0.0, "end": 2.0, "text": f"spoken words {req.index}"}],
        }
        self.seconds += time.perf_counter() - started
        return answer


async def _first_look(folder: Path, name: str) -> dict[str, float]:
    endpoint = _TimedEndpoint()
    async with ScriptedLLMServer(["unused"], transcribe=endpoint) as server:
        base = {"base_url": server.base_url, "api_key": "bench"}
        client = ModelClient(ModelSettings(model="m", vision=False, **base), role="file_surfer")
        speech = ModelClient(ModelSettings(model="w", **base), role="transcribe")
        agent = FileSurfer(client, [folder], FileSurferSettings(), speech)
        ctx = StepContext(task="t", conversation=[], workspace=folder, events=EventBus(), files=[])
        agent.viewer.roots.add([folder])
        agent.media.transcriber.cache_dir = folder / ".magentic-media"
        await agent.viewer.converter._worker()  # a running worker, as after warm_up
        # the HTTP exchange with the scripted endpoint stands in for the endpoint's time
        probe = await speech.transcribe(b"ID3" + bytes(1000), "probe.mp3")
        assert probe.text
        t0 = time.perf_counter()
        await speech.transcribe(b"ID3" + bytes(1000), "probe.mp3")
        per_request = time.perf_counter() - t0
        before = len(server.transcriptions)
        started = time.perf_counter()
        view = await agent.tools.call("open_path", {"path": name})
        total = time.perf_counter() - started
        requests = len(server.transcriptions) - before
        assert view.ok, view.text
        text = agent.viewer.document.text if agent.viewer.document else ""
        started = time.perf_counter()
        await agent.tools.call("open_path", {"path": name})
        again = time.perf_counter() - started
        await agent.close()
        await client.close()
        await speech.close()
        _ = ctx
    return {
        "first_look_ms": round((total - requests * per_request - endpoint.seconds) * 1000, 1),
        "endpoint_requests": requests,
        "second_look_ms": round(again * 1000, 2),
        "tokens_first_page": estimate_tokens(view.text),
        "tokens_whole": estimate_tokens(text),
    }


async def _ocr_per_page(folder: Path) -> float:
    pages = [[f"Page {i} of the ledger", f"entry {i * 37} copper kettle"] for i in range(1, 4)]
    scanned_pdf(folder / "scan.pdf", pages)
    viewer = FileViewer([folder])
    await viewer.converter._worker()
    started = time.perf_counter()
    view = await viewer.open("scan.pdf")
    seconds = time.perf_counter() - started
    assert view.ok and "copper kettle" in (viewer.document.text if viewer.document else "")
    await viewer.close()
    return round(seconds * 1000 / len(pages), 1)


def _hostile_files(folder: Path) -> dict[str, Path]:
    from PIL import Image

    out = {}
    out["audio_2h.mp3"] = folder / "audio_2h.mp3"
    _ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=220:duration=7200",
        "-ac",
        "1",
        "-b:a",
        "8k",
        str(out["audio_2h.mp3"]),
    )
    good = folder / "good.mp3"
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=220:duration=20", str(good))
    data = good.read_bytes()
    out["truncated.mp3"] = folder / "truncated.mp3"
    out["truncated.mp3"].write_bytes(data[: len(data) // 3][:200])
    good.unlink()
    big = folder / "image_20k.png"
    Image.new("1", (20_000, 20_000), 1).save(big, optimize=True)
    out["image_20k.png"] = big
    one = scanned_pdf(folder / "one.pdf", [["a scanned page"]])
    import pypdfium2 as pdfium

    src = pdfium.PdfDocument(str(one))
    pdf = pdfium.PdfDocument.new()
    pdf.import_pages(src, [0] * 10_000)
    out["scan_10000_pages.pdf"] = folder / "scan_10000_pages.pdf"
    pdf.save(str(out["scan_10000_pages.pdf"]))
    pdf.close()
    src.close()
    from tests.agents.test_file_media_formats import _tar_bomb, _zip_bomb

    out["bomb.tar.gz"] = _tar_bomb(folder / "bomb.tar.gz")
    _zip_bomb(folder / "bomb.zip")
    out["bomb.zip"] = folder / "bomb.zip"
    return out


async def _hostile(folder: Path) -> dict[str, Any]:
    results = {}
    for name, path in _hostile_files(folder).items():
        endpoint = _TimedEndpoint()
        async with ScriptedLLMServer(["unused"], transcribe=endpoint) as server:
            base = {"base_url": server.base_url, "api_key": "bench"}
            client = ModelClient(ModelSettings(model="m", vision=False, **base), role="fs")
            speech = ModelClient(ModelSettings(model="w", **base), role="transcribe")
            agent = FileSurfer(client, [folder], FileSurferSettings(), speech)
            agent.media.transcriber.cache_dir = folder / ".magentic-media"
            agent.media.extract_root = folder / ".magentic-media" / "unpacked"
            proc = await agent.viewer.converter._worker()
            idle = peak_rss_kb(proc.pid) or 0
            started = time.perf_counter()
            view = await agent.tools.call("open_path", {"path": path.name})
            seconds = time.perf_counter() - started
            peak = peak_rss_kb(proc.pid) if proc.returncode is None else None
            peak = peak or agent.viewer.converter.worker_peak_rss_kb or idle
            await agent.close()
            await client.close()
            await speech.close()
        results[name] = {
            "ok": view.ok,
            "says": view.text.split("\n")[0][:120] if not view.ok else _gist(view.text),
            "seconds": round(seconds, 2),
            "rss_above_idle_mb": round((peak - idle) / 1024, 1),
            "transcription_requests": len(server.transcriptions),
        }
        path.unlink()
    return results


def _gist(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("[") and ("only the first" in line or "not OCR" in line):
            return line[:160]
    return text.split("\n---\n")[1][:120] if "\n---\n" in text else text[:120]


async def media_numbers() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        wav = speech_like_wav(folder / "minute.wav", 60.0, rate=16000)
        _ffmpeg("-i", str(wav), "-b:a", "64k", str(folder / "minute.mp3"))
        wav.unlink()
        audio = await _first_look(folder, "minute.mp3")
        make_video(folder, [f"SLIDE {i} HARBOR" for i in range(1, 7)], seconds_each=10)
        video = await _first_look(folder, "clip.mp4")
        ocr = await _ocr_per_page(folder)
        hostile = await _hostile(folder)
    return {"audio_1min": audio, "video_1min": video, "ocr_ms_per_page": ocr, "hostile": hostile}
