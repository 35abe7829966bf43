"""The one hook `file_convert.convert_file` calls: what media adds to (or does instead of)
markitdown for a file. Runs in the conversion worker process.

Each failure of an external tool becomes a one-line note in the text rather than an
exception, so a missing Tesseract costs the OCR section and not the whole file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from magentic.agents.file_zipguard import ZipLimits
from magentic.agents.media.archives import ArchiveRefused, is_tar_name, tar_listing
from magentic.agents.media.proc import ToolFailed, ToolMissing

IMAGES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff"})
AUDIO = frozenset({".mp3", ".wav", ".m4a", ".flac", ".ogg", ".oga", ".opus", ".aac"})
VIDEO = frozenset({".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v"})
SHEETS = frozenset({".xlsx", ".xlsm"})


@dataclass
class MediaParts:
    """Text before markitdown's, whether markitdown runs at all, and text after it."""

    before: list[str] = field(default_factory=list)
    markitdown: bool = True
    after: list[str] = field(default_factory=list)


class MediaRefused(Exception):
    """The file cannot be read as its kind; `str()` is the model's observation."""


def convert(path: Path, ext: str, zip_limits: ZipLimits | None = None) -> MediaParts:
    parts = MediaParts()
    try:
        if is_tar_name(path.name):
            parts.markitdown = False
            try:
                parts.before.append(tar_listing(path, zip_limits or ZipLimits()))
            except ArchiveRefused as exc:
                raise MediaRefused(f"Refused to open {path.name}: {exc}.") from None
        elif ext in IMAGES:
            parts.after.append(_image_ocr(path))
        elif ext == ".pdf":
            _pdf(path, parts)
        elif ext in SHEETS:
            from magentic.agents.media.sheets import describe_xlsx

            parts.after.append(describe_xlsx(path))
        elif ext == ".xls":
            from magentic.agents.media.sheets import XLS_NOTE

            parts.after.append(XLS_NOTE)
        elif ext in AUDIO or ext in VIDEO:
            parts.markitdown = False
            _av(path, ext, parts)
    except ToolMissing as exc:
        if ext in AUDIO or ext in VIDEO:
            raise MediaRefused(f"Cannot read {path.name} here: {exc}.") from None
        parts.after.append(f"({exc}.)")
    except ToolFailed as exc:
        if ext in AUDIO or ext in VIDEO:
            raise MediaRefused(
                f"Could not read {path.name}: {exc}. It may be truncated, damaged or misnamed."
            ) from None
        parts.after.append(f"(OCR failed: {exc}.)")
    return parts


def _image_ocr(path: Path) -> str:
    from PIL import Image

    from magentic.agents.media.ocr import ocr_image

    with Image.open(path) as im:
        im.seek(0)
        text = ocr_image(im)
    return "## Text in the image (read by OCR)\n\n" + (text or "(no text found)")


def _pdf(path: Path, parts: MediaParts) -> None:
    from magentic.agents.media import pdfscan

    try:
        count, textless = pdfscan.textless_pages(path)
    except Exception:
        return
    if not textless:
        return
    scanned_only = len(textless) == min(count, pdfscan.MAX_CHECKED)
    result = pdfscan.ocr_scanned(path, all_textless=scanned_only)
    if scanned_only:
        parts.markitdown = False
        parts.before.append(
            f"# {path.name}: a scanned PDF of {count} pages (no text layer; text read by OCR)"
        )
    else:
        parts.after.append(f"# Pages without a text layer, read by OCR ({len(textless)} pages)")
    parts.after.append(result.text)
    if result.note:
        parts.after.append(result.note)


def _av(path: Path, ext: str, parts: MediaParts) -> None:
    from magentic.agents.media import av

    info = av.probe(path)
    duration = av.duration_of(info)
    if not info.get("streams"):
        raise MediaRefused(f"Could not read {path.name}: no audio or video stream in it.")
    parts.before.append(av.describe(path, info))
    if av.has_stream(info, "video") and ext in VIDEO:
        parts.after.append(
            "# Key frames (text on screen read by OCR; ask for the frame at a time to see it)\n\n"
            + av.frames_text(path, duration)
        )
