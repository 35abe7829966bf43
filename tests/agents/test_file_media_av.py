"""Audio and video through the FileSurfer: a real MP3 (made from a stdlib WAV by ffmpeg)
uploaded by the real openai client to ScriptedLLMServer's transcription route; long audio
cut into chunks; an unconfigured or route-less endpoint said so; a video made by ffmpeg from
frames with text, read by key-frame OCR and by a frame at a time."""

from __future__ import annotations

import io
import math
import shutil
import struct
import subprocess
import wave
from pathlib import Path

import pytest

from magentic.agents.base import StepContext
from magentic.agents.file_settings import FileSurferSettings
from magentic.agents.file_surfer import FileSurfer
from magentic.events import EventBus
from magentic.llm.client import ModelClient
from magentic.llm.settings import ModelSettings
from magentic.testing import ChatRequest, Reply, ScriptedLLMServer
from magentic.testing.transcription import TranscriptionRequest
from tests.conftest import require


def needs(*tools: str) -> None:
    for tool in tools:
        require(shutil.which(tool) is not None, f"{tool} (scripts/install --media)")


def speech_like_wav(path: Path, seconds: float, rate: int = 16000) -> Path:
    """Voiced 'syllables': a 120 Hz buzz with formant-like harmonics, switched on and off
    four times a second, the rhythm of speech (the stdlib `wave` module writes it)."""
    frames = bytearray()
    for n in range(int(seconds * rate)):
        t = n / rate
        envelope = max(0.0, math.sin(2 * math.pi * 2 * t)) ** 2  # 4 syllables a second
        sample = sum(math.sin(2 * math.pi * f * t) / k for k, f in enumerate((120, 700, 1200), 1))
        frames += struct.pack("<h", int(9000 * envelope * sample))
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(bytes(frames))
    return path


def to_mp3(wav: Path) -> Path:
    mp3 = wav.with_suffix(".mp3")
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-b:a", "64k", str(mp3)], check=True
    )
    return mp3


def open_script(name: str):
    """A model that opens `name` first, then answers with what it read."""

    def script(req: ChatRequest) -> Reply:
        if "Viewer: No file is open." in req.last_user_text():
            return Reply.tool_call("open_path", {"path": name})
        return Reply.text("done")

    return script


class Surfer:
    def __init__(self, server: ScriptedLLMServer, workspace: Path, speech: bool = True) -> None:
        base = {"base_url": server.base_url, "api_key": "test"}
        self.client = ModelClient(
            ModelSettings(model="scripted", vision=False, **base), role="file_surfer"
        )
        self.speech = (
            ModelClient(
                ModelSettings(model="whisper-test", max_retries=0, **base), role="transcribe"
            )
            if speech
            else None
        )
        self.agent = FileSurfer(self.client, [], FileSurferSettings(page_tokens=400), self.speech)
        self.ctx = StepContext(
            task="t", conversation=[], workspace=workspace, events=EventBus(), files=[]
        )

    async def open(self) -> str:
        return (await self.agent.step("read it", self.ctx)).text

    async def close(self) -> None:
        await self.agent.close()
        await self.client.close()
        if self.speech:
            await self.speech.close()


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "ws").mkdir()
    return tmp_path / "ws"


async def test_mp3_is_transcribed_from_its_real_bytes_and_cached(workspace: Path) -> None:
    needs("ffmpeg", "ffprobe")
    mp3 = to_mp3(speech_like_wav(workspace / "memo.wav", 3.0))

    def transcribe(req: TranscriptionRequest) -> dict:
        return {
            "text": "pick up the apples",
            "segments": [
                {"start": 0.0, "end": 1.2, "text": " pick up"},
                {"start": 1.2, "end": 2.5, "text": " the apples"},
            ],
        }

    async with ScriptedLLMServer(open_script("memo.mp3"), transcribe=transcribe) as server:
        surfer = Surfer(server, workspace)
        try:
            text = await surfer.open()
            assert len(server.transcriptions) == 1
            sent = server.transcriptions[0]
            assert sent.audio == mp3.read_bytes()  # the file itself, byte for byte
            assert sent.model == "whisper-test" and sent.filename == "memo.mp3"
            assert "[0:00] pick up" in text and "[0:01] the apples" in text
            assert "Duration: 0:03" in text
            cache = surfer.agent.media.transcriber.cache_dir
            cached = list(cache.glob("memo.*.transcript.md"))
            assert len(cached) == 1 and "the apples" in cached[0].read_text()
            assert not cache.is_relative_to(workspace)  # host scratch: never the workspace
            assert cached[0].stat().st_mode & 0o777 == 0o600
            surfer.agent.viewer.reset()
            again = await surfer.open()  # a second look: from the cache, no new request
            assert "the apples" in again and len(server.transcriptions) == 1
        finally:
            await surfer.close()


async def test_long_audio_is_cut_into_mp3_chunks_with_shifted_times(workspace: Path) -> None:
    needs("ffmpeg", "ffprobe")
    speech_like_wav(workspace / "talk.wav", 7.0, rate=8000)

    def transcribe(req: TranscriptionRequest) -> dict:
        return {
            "text": f"part {req.index + 1}",
            "segments": [{"start": 1.0, "end": 2.0, "text": f"part {req.index + 1}"}],
        }

    async with ScriptedLLMServer(open_script("talk.wav"), transcribe=transcribe) as server:
        surfer = Surfer(server, workspace)
        surfer.agent.media.transcriber.chunk_s = 3.0
        try:
            text = await surfer.open()
        finally:
            await surfer.close()
    assert len(server.transcriptions) == 3  # 7 s in chunks of 3 s
    for sent in server.transcriptions:
        assert sent.filename.endswith(".mp3")
        assert sent.audio[:3] == b"ID3" or sent.audio[0] == 0xFF  # a real MP3 stream
    assert "[0:01] part 1" in text and "[0:04] part 2" in text and "[0:07] part 3" in text


async def test_no_transcription_configured_or_no_route_is_said_plainly(workspace: Path) -> None:
    needs("ffmpeg", "ffprobe")
    speech_like_wav(workspace / "note.wav", 1.0)
    async with ScriptedLLMServer(open_script("note.wav")) as server:  # no transcribe route
        unconfigured = Surfer(server, workspace, speech=False)
        try:
            text = await unconfigured.open()
        finally:
            await unconfigured.close()
        assert "no transcription endpoint is configured" in text
        assert "[models.transcribe]" in text
        routeless = Surfer(server, workspace)
        try:
            text = await routeless.open()
        finally:
            await routeless.close()
        assert "has no audio transcription route" in text and "404" in text
        assert "[models.transcribe]" in text and "Traceback" not in text
        cache = routeless.agent.media.transcriber.cache_dir
        assert cache is None or not list(cache.glob("*.md"))  # a failure is not cached


def text_frame(path: Path, words: str) -> Path:
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (640, 360), "white")
    draw = ImageDraw.Draw(image)
    try:
        font = ImageFont.truetype("DejaVuSans.ttf", 44)
    except OSError:
        font = ImageFont.load_default(size=44)
    draw.text((40, 140), words, fill="black", font=font)
    image.save(path)
    return path


def make_video(folder: Path, captions: list[str], seconds_each: int = 4) -> Path:
    """An MP4 of still frames with text (one caption each `seconds_each` s) and a tone."""
    for i, caption in enumerate(captions):
        text_frame(folder / f"f{i:02d}.png", caption)
    video = folder / "clip.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-framerate",
            f"1/{seconds_each}",
            "-i",
            str(folder / "f%02d.png"),
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=300:duration={seconds_each * len(captions)}",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-r",
            "5",
            "-c:a",
            "aac",
            "-shortest",
            str(video),
        ],
        check=True,
    )
    for i in range(len(captions)):
        (folder / f"f{i:02d}.png").unlink()
    return video


@pytest.mark.slow
async def test_video_key_frames_and_a_frame_at_a_time_are_read(workspace: Path) -> None:
    needs("ffmpeg", "ffprobe", "tesseract")
    make_video(workspace, ["HARBOR LIGHTS", "COPPER BRIDGE", "NORTH TOWER"], seconds_each=6)
    steps = iter(
        [
            Reply.tool_call("open_path", {"path": "clip.mp4"}),
            Reply.tool_call("view_frame", {"seconds": 7}),
            Reply.tool_call("next_frame", {}),
            Reply.tool_call("zoom", {"region": "left"}),
        ]
    )

    def transcribe(req: TranscriptionRequest) -> str:
        return "a steady tone"

    async with ScriptedLLMServer(lambda req: next(steps), transcribe=transcribe) as server:
        surfer = Surfer(server, workspace)
        try:
            opened = await surfer.open()
            frame = (await surfer.agent.step("look", surfer.ctx)).text
            later = (await surfer.agent.step("look", surfer.ctx)).text
            zoomed = (await surfer.agent.step("look", surfer.ctx)).text
        finally:
            await surfer.close()
    for caption in ("HARBOR LIGHTS", "COPPER BRIDGE", "NORTH TOWER"):
        assert caption in opened  # each caption's key frame, by OCR
    assert "a steady tone" in opened and len(server.transcriptions) == 1
    assert server.transcriptions[0].filename.endswith(".mp3")  # the audio track, cut out
    assert "Frame of clip.mp4 at 0:07" in frame and "COPPER BRIDGE" in frame
    assert "at 0:12" in later and "NORTH TOWER" in later
    assert "Zoomed on left" in zoomed and "NORTH" in zoomed


async def test_a_vision_model_gets_the_scanned_pages_as_images(workspace: Path) -> None:
    needs("tesseract", "pdftoppm")
    from PIL import Image

    from magentic.agents.media.looking import ocr_bytes
    from tests.agents.test_file_media import scanned_pdf

    scanned_pdf(workspace / "scan.pdf", [["copper kettle 118"], ["silver ladle 907"]])
    async with ScriptedLLMServer(open_script("scan.pdf")) as server:
        surfer = Surfer(server, workspace)
        surfer.client.settings = surfer.client.settings.model_copy(update={"vision": True})
        try:
            reply = await surfer.agent.step("read it", surfer.ctx)
        finally:
            await surfer.close()
    assert "silver ladle 907" in reply.text  # the OCR text rides along too
    assert len(reply.images) == 2 and all(i.mime == "image/png" for i in reply.images)
    with Image.open(io.BytesIO(reply.images[1].data)) as im:
        assert max(im.size) <= 1600
    assert "silver ladle 907" in await ocr_bytes(reply.images[1].data)


@pytest.mark.slow
async def test_a_vision_model_gets_the_key_frames_on_one_sheet(workspace: Path) -> None:
    needs("ffmpeg", "ffprobe", "tesseract")
    from magentic.agents.media.looking import ocr_bytes

    make_video(workspace, ["HARBOR LIGHTS", "COPPER BRIDGE", "NORTH TOWER"], seconds_each=6)
    async with ScriptedLLMServer(open_script("clip.mp4"), transcribe=lambda r: "hum") as server:
        surfer = Surfer(server, workspace)
        surfer.client.settings = surfer.client.settings.model_copy(update={"vision": True})
        try:
            reply = await surfer.agent.step("watch it", surfer.ctx)
        finally:
            await surfer.close()
    assert len(reply.images) == 1 and reply.images[0].mime == "image/jpeg"
    seen = await ocr_bytes(reply.images[0].data)
    assert sum(c in seen for c in ("HARBOR", "COPPER", "NORTH")) >= 2, seen


async def test_zoom_crops_a_quadrant_or_box_and_enlarges_it(workspace: Path) -> None:
    from PIL import Image

    from tests.agents.test_file_media import text_image

    text_image(workspace / "sign.png", ["TOP LEFT WORDS"], size=(800, 600))
    steps = iter(
        [
            Reply.tool_call("open_path", {"path": "sign.png"}),
            Reply.tool_call("zoom", {"region": "top-left"}),
            Reply.tool_call("zoom", {"region": "10,20,110,70"}),
            Reply.tool_call("zoom", {"region": "the sky"}),
        ]
    )
    async with ScriptedLLMServer(lambda req: next(steps)) as server:
        surfer = Surfer(server, workspace)
        surfer.client.settings = surfer.client.settings.model_copy(update={"vision": True})
        try:
            replies = [await surfer.agent.step("look", surfer.ctx) for _ in range(4)]
        finally:
            await surfer.close()
    opened, quadrant, box, bad = replies
    assert len(opened.images) == 1  # the image itself
    assert "Zoomed on top-left: pixels (0, 0) to (400, 300) of the 800 x 600 image" in quadrant.text
    with Image.open(io.BytesIO(quadrant.images[0].data)) as im:
        assert im.size == (1536, 1152)  # enlarged to 1536 on its long side
    assert "pixels (10, 20) to (110, 70)" in box.text
    with Image.open(io.BytesIO(box.images[0].data)) as im:
        assert im.size == (400, 200)  # at most four times
    assert "Unknown region 'the sky'" in bad.text and not bad.images


def test_the_team_gives_the_file_surfer_a_transcriber_only_when_configured(
    tmp_path: Path,
) -> None:
    from magentic.agents.base import AgentContext
    from magentic.config import load_config
    from magentic.team import FACTORIES

    def surfer(overrides: dict[str, object]) -> FileSurfer:
        config = load_config(overrides=overrides, environ={})
        ctx = AgentContext(
            config=config,
            events=EventBus(),
            workspace=tmp_path,
            files=[],
            client_for=lambda role: ModelClient(config.model_for(role), role=role),
        )
        agent = FACTORIES["FileSurfer"](ctx)
        assert isinstance(agent, FileSurfer)
        return agent

    plain = surfer({"models.default.model": "chat-model"})
    assert plain.media.transcriber.client is None
    speech = surfer({"models.default.model": "chat-model", "models.transcribe.model": "whisper-1"})
    client = speech.media.transcriber.client
    assert client is not None and client.role == "transcribe"
    assert client.settings.model == "whisper-1"
