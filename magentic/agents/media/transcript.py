"""Audio transcripts for the FileSurfer, made through the model endpoint and cached on disk.

Runs in the agent's process (it needs the model client); the audio work is ffmpeg in a
child process. A file that fits one upload (at most `MAX_UPLOAD_BYTES`, one chunk long, a
format the API takes) is sent as it is; anything else has its audio track cut by ffmpeg into
mono 16 kHz MP3 chunks of `chunk_s` seconds (about 240 KB a minute, far under the limit),
up to `max_minutes`. Segment times from the endpoint are shifted by each chunk's start, so
the transcript's timestamps are the file's. The Markdown result is written to the run's
private scratch folder (never the workspace, where sandbox code could plant a link), keyed
by the file's path, size, mtime and the model, so a second look costs nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from magentic.agents.media.av import FFMPEG, clock
from magentic.agents.media.proc import ToolFailed, ToolMissing
from magentic.agents.media.tools_async import run_tool
from magentic.errors import ModelError
from magentic.safe_fs import private_dir, write_atomic

if TYPE_CHECKING:
    from magentic.llm.client import ModelClient

MAX_UPLOAD_BYTES = 24 * 1024 * 1024  # under the API's 25 MB, with room for the form
DIRECT_FORMATS = frozenset({".mp3", ".wav", ".m4a", ".flac", ".ogg", ".oga", ".webm", ".mpga"})

NOT_CONFIGURED = (
    "No transcript: no transcription endpoint is configured. To transcribe audio, add a "
    '[models.transcribe] table to the config with a speech-to-text model (model = "whisper-1" '
    "or what your endpoint serves; base_url and api_key_env if it is not the default "
    "endpoint), or ask the ComputerTerminal to transcribe it locally."
)


class Transcriber:
    """Transcripts of audio files (and of videos' audio tracks), cached in `cache_dir`."""

    def __init__(
        self,
        client: ModelClient | None,
        cache_dir: Path | None = None,
        *,
        chunk_s: float = 600.0,
        max_minutes: float = 60.0,
        ffmpeg_timeout_s: float = 300.0,
    ) -> None:
        self.client = client
        self.cache_dir = cache_dir
        self.chunk_s = chunk_s
        self.max_minutes = max_minutes
        self.ffmpeg_timeout_s = ffmpeg_timeout_s

    def cache_path(self, path: Path) -> Path | None:
        if self.cache_dir is None or self.client is None:
            return None
        st = path.stat()
        key = f"{path}|{st.st_size}|{st.st_mtime_ns}|{self.client.settings.model}|{self.chunk_s}"
        digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:16]
        return self.cache_dir / f"{path.stem[:60]}.{digest}.transcript.md"

    async def transcript(self, path: Path, duration_s: float, *, is_video: bool = False) -> str:
        """The Markdown transcript section; a one-line reason instead when there is none."""
        if self.client is None:
            return NOT_CONFIGURED
        try:
            cached = await asyncio.to_thread(self.cache_path, path)
            if cached is not None and await asyncio.to_thread(cached.is_file):
                return await asyncio.to_thread(cached.read_text, "utf-8")
        except (OSError, UnicodeDecodeError):
            cached = None
        try:
            text = await self._make(path, duration_s, is_video)
        except (ToolMissing, ToolFailed) as exc:
            return f"No transcript: cutting the audio failed ({exc})."
        except ModelError as exc:
            return _model_failure(exc)
        except OSError as exc:  # the file went away or the cache folder is unwritable
            return f"No transcript: {exc}."
        if cached is not None:
            try:
                await asyncio.to_thread(_write, cached, text)
            except OSError:
                pass  # a read-only workspace: the transcript is shown, not kept
        return text

    async def _make(self, path: Path, duration_s: float, is_video: bool) -> str:
        assert self.client is not None
        limit_s = self.max_minutes * 60
        size = await asyncio.to_thread(lambda: path.stat().st_size)
        direct = (
            not is_video
            and path.suffix.lower() in DIRECT_FORMATS
            and size <= MAX_UPLOAD_BYTES
            and 0 < duration_s <= self.chunk_s
        )
        if direct:
            audio = await asyncio.to_thread(path.read_bytes)
            chunks = [(0.0, path.name, audio)]
        else:
            chunks = await self._cut(path, min(duration_s or limit_s, limit_s))
        lines: list[str] = []
        for start, name, audio in chunks:
            result = await self.client.transcribe(audio, name)
            if result.segments:
                lines += [
                    f"[{clock(start + seg.start)}] {seg.text.strip()}" for seg in result.segments
                ]
            elif result.text:
                lines.append(f"[{clock(start)}] {result.text}")
        body = "\n".join(lines) or "(no speech was recognised)"
        note = ""
        if duration_s > limit_s:
            note = (
                f"\n\n[only the first {self.max_minutes:g} minutes of {clock(duration_s)} were "
                "transcribed: the limit for one file]"
            )
        return f"# Transcript of {path.name} ({self.client.settings.model})\n\n{body}{note}"

    async def _cut(self, path: Path, seconds: float) -> list[tuple[float, str, bytes]]:
        """The audio track in mono 16 kHz MP3 chunks of `chunk_s` seconds."""
        with tempfile.TemporaryDirectory(prefix="magentic-audio-") as tmp:
            pattern = str(Path(tmp) / "chunk%04d.mp3")
            await run_tool(
                [
                    *FFMPEG,
                    "-i",
                    str(path),
                    "-t",
                    f"{seconds:.3f}",
                    "-vn",
                    "-ac",
                    "1",
                    "-ar",
                    "16000",
                    "-b:a",
                    "32k",
                    "-f",
                    "segment",
                    "-segment_time",
                    f"{self.chunk_s:g}",
                    "-reset_timestamps",
                    "1",
                    pattern,
                ],
                timeout_s=self.ffmpeg_timeout_s,
            )
            return await asyncio.to_thread(self._read_chunks, Path(tmp), path.stem)

    def _read_chunks(self, folder: Path, stem: str) -> list[tuple[float, str, bytes]]:
        files = sorted(folder.glob("chunk*.mp3"))
        return [
            (i * self.chunk_s, f"{stem}.part{i + 1}.mp3", f.read_bytes())
            for i, f in enumerate(files)
            if f.stat().st_size <= MAX_UPLOAD_BYTES
        ]


def _model_failure(exc: ModelError) -> str:
    from magentic.llm.transcribe import TranscriptionUnavailable

    if isinstance(exc, TranscriptionUnavailable):
        return (
            f"No transcript: {exc}. Set [models.transcribe] in the config to a speech-to-text "
            "model this endpoint serves, or point its base_url at an endpoint that has "
            "/v1/audio/transcriptions."
        )
    return f"No transcript: the transcription request failed ({exc})."


def _write(path: Path, text: str) -> None:
    write_atomic(private_dir(path.parent), path.name, text.encode("utf-8", "surrogateescape"))
