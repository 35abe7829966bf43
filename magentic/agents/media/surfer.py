"""The FileSurfer's media actions, kept out of `file_surfer.py`: a transcript added to an
opened audio or video file, zooming into the open image or frame, and a video's frames.

Every action ends in a `Look`: text for the model (an observation, also on failure) and the
images a vision model should see. Without vision the images are replaced by their OCR text.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from magentic.agents.file_convert import Document
from magentic.agents.file_zipguard import ZipLimits
from magentic.agents.media import archives, looking
from magentic.agents.media.av import clock, frame_times
from magentic.agents.media.dispatch import AUDIO, IMAGES, VIDEO
from magentic.agents.media.proc import ToolFailed, ToolMissing
from magentic.agents.media.transcript import Transcriber
from magentic.llm.messages import ImagePart

_SCANNED = re.compile(r"^## Page (\d+) \(scanned; read by OCR\)$", re.MULTILINE)
_DURATION = re.compile(r"^- Duration: .*\(([\d.]+) s\)$", re.MULTILINE)
FRAME_STEP_S = 5.0
MAX_ZOOM_SOURCE_BYTES = 50 * 1024 * 1024


@dataclass
class Look:
    text: str
    ok: bool = True
    images: list[ImagePart] = field(default_factory=list)


class MediaLooks:
    """State for looking closer: the image last shown (file or frame) and the video time."""

    def __init__(
        self,
        transcriber: Transcriber,
        *,
        vision: Callable[[], bool],
        archive_limits: ZipLimits | None = None,
    ) -> None:
        self.transcriber = transcriber
        self.vision = vision
        self.archive_limits = archive_limits or ZipLimits()
        self.extract_root: Path | None = None  # the workspace's folder for unpacked archives
        self._frame: tuple[Path, float, bytes] | None = None  # (video, seconds, JPEG)

    def opened(self, document: Document) -> None:
        """A new file is open: a frame of another video is no longer what zoom works on."""
        if self._frame is not None and self._frame[0] != document.path:
            self._frame = None

    async def with_transcript(self, document: Document) -> Document | None:
        """The document with its transcript appended, for audio and video; else None."""
        ext = document.path.suffix.lower()
        if ext not in AUDIO and ext not in VIDEO:
            return None
        if "\n- Audio:" not in document.text:
            return None  # a silent video: nothing to transcribe
        m = _DURATION.search(document.text)
        duration = float(m.group(1)) if m else 0.0
        is_video = "\n- Video:" in document.text
        section = await self.transcriber.transcript(document.path, duration, is_video=is_video)
        text = f"{document.text}\n\n{section}"
        return Document(document.path, document.kind, document.title, text, document.size)

    async def with_members(self, document: Document) -> Document | None:
        """An archive's listing plus where its members were unpacked to; else None."""
        if self.extract_root is None or not archives.is_archive_name(document.path.name):
            return None
        try:
            done = await asyncio.to_thread(
                archives.extract, document.path, self.extract_root, self.archive_limits
            )
        except archives.ArchiveRefused as exc:
            note = f"(The members were not unpacked: {exc}.)"
        except OSError as exc:
            note = f"(The members could not be unpacked: {exc}.)"
        else:
            first = f"{done.folder}/{done.files[0]}" if done.files else str(done.folder)
            note = (
                f"# Unpacked members\n\n{len(done.files)} files unpacked into {done.folder}; "
                f"open one with open_path, e.g. {first}"
            )
            if done.refused:
                note += "\nNot unpacked (unsafe):\n" + "\n".join(
                    f"- {r}" for r in done.refused[:50]
                )
        text = f"{document.text}\n\n{note}"
        return Document(document.path, document.kind, document.title, text, document.size)

    async def scanned_page_images(
        self, document: Document | None, span: tuple[int, int]
    ) -> list[ImagePart]:
        """For a vision model: the scanned PDF pages the shown text came from, as images
        (pdftoppm in a bounded child process; at most two pages a view)."""
        if document is None or not self.vision() or document.path.suffix.lower() != ".pdf":
            return []
        start, end = span
        before = [m for m in _SCANNED.finditer(document.text) if m.start() < start]
        inside = [m for m in _SCANNED.finditer(document.text, start, end)]
        numbers = [int(m.group(1)) for m in ([before[-1]] if before else []) + inside]
        images = []
        for number in list(dict.fromkeys(numbers))[-2:]:
            try:
                png = await looking.render_pdf_page(document.path, number)
            except (ToolMissing, ToolFailed):
                continue
            if png:
                images.append(ImagePart(png, mime="image/png"))
        return images

    async def key_frames_image(self, document: Document | None) -> list[ImagePart]:
        """For a vision model that just opened a video: its key frames on one sheet."""
        if document is None or not self.vision() or document.path.suffix.lower() not in VIDEO:
            return []
        if "\n- Video:" not in document.text:
            return []
        m = _DURATION.search(document.text)
        times = frame_times(float(m.group(1)) if m else 0.0, cap=6)
        try:
            sheet = await looking.contact_sheet(document.path, times)
        except (ToolMissing, ToolFailed, OSError):
            return []
        return [ImagePart(sheet, mime="image/jpeg")] if sheet else []

    # -- frames --------------------------------------------------------------------------

    async def frame(self, document: Document | None, seconds: float) -> Look:
        if document is None or document.path.suffix.lower() not in VIDEO:
            return Look("No video is open: open_path a video first.", ok=False)
        m = _DURATION.search(document.text)
        duration = float(m.group(1)) if m else 0.0
        if duration and seconds >= duration:
            return Look(
                f"{document.path.name} lasts {clock(duration)} ({duration:.1f} s); there is no "
                f"frame at {seconds:g} s.",
                ok=False,
            )
        try:
            data = await looking.frame_at(document.path, seconds)
        except (ToolMissing, ToolFailed) as exc:
            return Look(f"Could not take the frame at {seconds:g} s: {exc}.", ok=False)
        if not data:
            return Look(f"No frame at {seconds:g} s in {document.path.name}.", ok=False)
        self._frame = (document.path, seconds, data)
        head = f"Frame of {document.path.name} at {clock(seconds)} ({seconds:.1f} s)."
        return await self._show(data, "image/jpeg", head)

    async def next_frame(self, document: Document | None) -> Look:
        last = self._frame[1] if self._frame is not None else -FRAME_STEP_S
        return await self.frame(document, last + FRAME_STEP_S)

    # -- zoom ----------------------------------------------------------------------------

    async def zoom(self, document: Document | None, region: str) -> Look:
        source: bytes | None = None
        what = ""
        if document is not None and document.path.suffix.lower() in IMAGES:
            if document.size > MAX_ZOOM_SOURCE_BYTES:
                return Look(f"{document.path.name} is too large to zoom into here.", ok=False)
            source = await asyncio.to_thread(document.path.read_bytes)
            what = document.path.name
        elif self._frame is not None and document is not None and self._frame[0] == document.path:
            source = self._frame[2]
            what = f"the frame at {clock(self._frame[1])}"
        if source is None:
            return Look("Nothing to zoom into: open an image, or view a video frame.", ok=False)
        try:
            png, line = await asyncio.to_thread(looking.zoom, source, region)
        except looking.BadRegion as exc:
            return Look(str(exc), ok=False)
        except (OSError, ValueError) as exc:  # Pillow: unreadable, or a decompression bomb
            return Look(f"Could not zoom into {what}: {exc}.", ok=False)
        return await self._show(png, "image/png", f"{what}: {line}")

    async def _show(self, data: bytes, mime: str, head: str) -> Look:
        if self.vision():
            return Look(f"{head}\nThe image is attached.", images=[ImagePart(data, mime=mime)])
        try:
            text = await looking.ocr_bytes(data)
        except (ToolMissing, ToolFailed) as exc:
            return Look(f"{head}\nThe model has no vision and OCR failed: {exc}.", ok=False)
        except OSError as exc:
            return Look(f"{head}\nCould not read the image: {exc}.", ok=False)
        return Look(f"{head}\nText read by OCR (the model has no vision):\n{text or '(none)'}")
