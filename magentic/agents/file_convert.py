"""What the FileSurfer may read, and that file as Markdown text (no model here).

`Roots` admits a path only when, with `..` and symlinks resolved, it lies inside an allowed
folder or is an allowed file. `convert_file` does the converting with markitdown, plus image
metadata from Pillow (markitdown reads it only through exiftool, often absent), a ZIP member
listing, a check of containers before they are opened (a damaged DOCX is otherwise "read" as
plain text, and a zip bomb unpacks without end), and one clear sentence instead of an
exception when a file cannot be read. It blocks and trusts the file's bytes only as far as
the size check goes, so it runs in the conversion worker process (`file_worker`), which has
a memory limit and is killed at its deadline.
"""

from __future__ import annotations

import functools
import mimetypes
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from magentic.agents.file_zipguard import ZIP_CONTAINERS, ZipLimits, ZipRejected, check_zip
from magentic.agents.media import dispatch as media_dispatch
from magentic.text import unescape_bytes

_KINDS = {
    ".pdf": "PDF document",
    ".docx": "Word document",
    ".xlsx": "Excel workbook",
    ".xls": "Excel 97 workbook",
    ".pptx": "PowerPoint deck",
    ".csv": "CSV table",
    ".html": "HTML page",
    ".htm": "HTML page",
    ".json": "JSON file",
    ".jsonl": "JSON lines file",
    ".xml": "XML file",
    ".txt": "text file",
    ".md": "Markdown file",
    ".zip": "ZIP archive",
    ".epub": "EPUB book",
    ".odt": "OpenDocument text",
    ".ipynb": "Jupyter notebook",
    ".msg": "Outlook message",
    ".wav": "WAV audio",
    ".mp3": "MP3 audio",
    ".m4a": "M4A audio",
    ".mp4": "MP4 video",
    ".flac": "FLAC audio",
    ".ogg": "Ogg audio",
    ".mov": "QuickTime video",
    ".mkv": "Matroska video",
    ".webm": "WebM media",
    ".tar": "tar archive",
    ".gz": "gzip file",
    ".tgz": "tar archive (gzip)",
    ".yaml": "YAML file",
    ".yml": "YAML file",
    ".toml": "TOML file",
    ".py": "Python source",
    ".pdb": "PDB file",
    ".jsonld": "JSON-LD file",
    ".tsv": "TSV table",
    ".srt": "SRT subtitles",
    ".vtt": "WebVTT subtitles",
}
_IMAGES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff"}
_AUDIO = {".wav", ".mp3", ".m4a", ".mp4"}
# A converted text longer than this is cut (with a note): 16 M characters is over 10,000
# pages, more than a model can page through, and it bounds the memory a reply takes.
MAX_TEXT_CHARS = 16 * 1024 * 1024
READABLE = (
    "PDF (scanned ones by OCR), Word, Excel, PowerPoint, CSV, HTML, JSON, XML, text, ZIP, "
    "EPUB, notebooks, images (with OCR), audio and video"
)


def kind_of(path: Path) -> str:
    ext = path.suffix.lower()
    if ext in _KINDS:
        return _KINDS[ext]
    if ext in _IMAGES:
        return f"{ext[1:].upper()} image"
    mime, _ = mimetypes.guess_type(path.name)
    return f"{mime} file" if mime else "file"


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


@dataclass
class Document:
    path: Path
    kind: str
    title: str
    text: str
    size: int  # bytes on disk; 0 for a folder listing
    # Derived by the viewer and kept with the cached conversion: page spans per page size,
    # and the (position, text) of each heading and of each table's header rows.
    pages: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    headings: list[tuple[int, str]] | None = None
    tables: list[tuple[int, str]] | None = None


class Refused(Exception):
    """A path or file the viewer will not or cannot show; `str()` is the model's observation."""


def convert_file(
    path: Path,
    *,
    max_bytes: int,
    zip_limits: ZipLimits | None = None,
    max_text_chars: int = MAX_TEXT_CHARS,
) -> Document:
    """The document at `path`, converted to Markdown (blocking, and unbounded in memory and
    time: the FileSurfer calls it only inside the conversion worker process)."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise Refused(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    ext, kind = path.suffix.lower(), kind_of(path)
    _check_container(path, ext, kind, zip_limits or ZipLimits())
    parts: list[str] = []
    if ext in _IMAGES:
        parts.append(_image_metadata(path))
    try:
        media = media_dispatch.convert(path, ext, zip_limits)  # OCR, audio/video, sheet formatting
    except media_dispatch.MediaRefused as exc:
        raise Refused(str(exc)) from None
    parts.extend(media.before)
    unpack = media.markitdown
    if ext == ".zip":
        listing, unpack = _zip_listing(path, max_bytes)
        parts.append(listing)
    title, failure = None, ""
    if unpack:
        try:
            result = _markitdown().convert_local(str(path))
            parts.append(result.markdown)
            title = result.title
        except OSError as exc:
            raise Refused(f"Cannot read {path}: {exc.strerror or exc}.") from exc
        except Exception as exc:  # any converter failure becomes an observation
            failure = _failure_reason(exc)
            if failure.startswith("MemoryError"):
                raise MemoryError(failure) from None  # the worker's limit: said as such
    parts.extend(media.after)
    text = "\n\n".join(p for p in parts if p.strip()).strip()
    if len(text) > max_text_chars:
        text = text[:max_text_chars] + (
            f"\n\n[cut here: the text goes on past {max_text_chars} characters; ask the "
            "ComputerTerminal to extract the part you need]"
        )
    if not text and failure == "unsupported":
        raise Refused(f"Cannot read {path.name}: {kind} is not a readable type ({READABLE}).")
    if not text and failure:
        raise Refused(
            f"Could not read {path.name} ({kind}): {failure}. "
            "It may be damaged, encrypted or misnamed."
        )
    if not text and ext in _AUDIO:
        raise Refused(
            f"{path.name} is {kind}; no metadata could be extracted here (ffprobe found "
            "no streams)."
        )
    if not text:
        raise Refused(
            f"{path.name} ({kind}) holds no text that could be extracted; a scanned PDF's "
            "pages are images."
        )
    return Document(path, kind, title or _first_heading(text) or path.name, text, size)


@functools.cache
def _markitdown() -> Any:
    """One MarkItDown per process, built on first use: building one loads magika's model."""
    from markitdown import MarkItDown

    return MarkItDown(enable_plugins=False)


def _failure_reason(exc: Exception) -> str:
    from markitdown import FileConversionException, UnsupportedFormatException

    if isinstance(exc, UnsupportedFormatException):
        return "unsupported"
    if isinstance(exc, FileConversionException) and exc.attempts:
        info = exc.attempts[0].exc_info
        if info and info[1] is not None:
            exc = info[1]
    detail = " ".join(str(exc).split())[:200]
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def _check_container(path: Path, ext: str, kind: str, zip_limits: ZipLimits) -> None:
    """Catch a damaged, misnamed or bomb-shaped file before markitdown opens it."""
    if ext == ".pdf":
        with path.open("rb") as fh:
            if b"%PDF" not in fh.read(1024):
                raise Refused(
                    f"{path.name} is not a valid PDF (no PDF header); damaged or misnamed?"
                )
    elif ext in ZIP_CONTAINERS:
        if not zipfile.is_zipfile(path):
            raise Refused(
                f"{path.name} is not a valid {kind}: it should be a ZIP container and is not; "
                "damaged or misnamed?"
            )
        try:
            check_zip(path, zip_limits)
        except ZipRejected as exc:
            raise Refused(f"Refused to open {path.name} ({kind}): {exc}.") from None
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise Refused(f"Could not read {path.name} as a ZIP container: {exc}.") from None


def _image_metadata(path: Path) -> str:
    from PIL import ExifTags, Image

    try:
        with Image.open(path) as im:
            lines = [
                f"# Image {path.name}",
                f"- Format: {im.format}, {im.width} x {im.height} pixels, mode {im.mode}",
            ]
            if getattr(im, "n_frames", 1) > 1:
                lines.append(f"- Frames: {im.n_frames}")
            for key, value in im.info.items():
                if isinstance(value, str) and value.strip():
                    lines.append(f"- {key}: {value.strip()[:500]}")
            for tag, value in im.getexif().items():
                if isinstance(value, (str, int, float)) and str(value).strip():
                    lines.append(f"- {ExifTags.TAGS.get(tag, tag)}: {str(value).strip()[:500]}")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise Refused(f"Could not read {path.name} as an image: {exc}.") from exc
    return "\n".join(lines)


def _zip_listing(path: Path, max_bytes: int) -> tuple[str, bool]:
    """The archive's members, and whether unpacking them to convert each is reasonable."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError) as exc:
        raise Refused(f"Could not read {path.name} as a ZIP archive: {exc}.") from exc
    total = sum(i.file_size for i in infos)
    rows = "\n".join(f"| {i.filename} | {human_size(i.file_size)} |" for i in infos[:500])
    more = f"\n({len(infos) - 500} more files not listed)" if len(infos) > 500 else ""
    unpack = total <= 4 * max_bytes
    note = "" if unpack else f"\n\n(too large to unpack here: {human_size(total)} uncompressed)"
    text = f"# Archive {path.name}: {len(infos)} files\n\n| file | size |\n| --- | --- |\n"
    return text + rows + more + note, unpack


def _first_heading(text: str) -> str | None:
    m = re.search(r"^# +(.+)$", text, re.MULTILINE)
    return m.group(1).strip()[:120] if m else None


class Roots:
    """The folders and single files the viewer may read, and the resolution of paths in them."""

    def __init__(self, roots: list[Path] | tuple[Path, ...] = ()) -> None:
        self._roots: list[Path] = []
        self.add(roots)

    def add(self, paths: list[Path] | tuple[Path, ...]) -> None:
        for path in paths:
            resolved = Path(path).expanduser().resolve()
            if resolved not in self._roots:
                self._roots.append(resolved)

    @property
    def paths(self) -> list[Path]:
        return list(self._roots)

    def allows(self, path: Path) -> bool:
        return any(
            path == root or (root.is_dir() and path.is_relative_to(root)) for root in self._roots
        )

    def resolve(self, raw: str) -> Path:
        """The real path `raw` names (relative names are looked up in each root, in order)."""
        text = raw.strip().strip("'\"`").removeprefix("file://")
        if not text:
            raise Refused("No path given. Give a file or folder path.")
        given = Path(text).expanduser()
        if not given.exists() and unescape_bytes(text) != text:  # `caf\xe9.csv` as listed
            given = Path(unescape_bytes(text)).expanduser()
        candidate = given if given.is_absolute() else self._find_relative(given)
        resolved = candidate.resolve()
        if not self.allows(resolved):
            link = " (a symbolic link)" if candidate.is_symlink() else ""
            raise Refused(
                f"Refused: {raw!r}{link} leads to {resolved}, which is outside what you may read: "
                f"{self.describe()}."
            )
        return resolved

    def _find_relative(self, given: Path) -> Path:
        for root in self._roots:
            if root.is_dir() and (root / given).exists():
                return root / given
            if root.is_file() and given.as_posix() == root.name:
                return root
        folders = [r for r in self._roots if r.is_dir()]
        if not folders:
            raise Refused(f"No file named {given} among the allowed files: {self.describe()}.")
        return folders[0] / given

    def describe(self) -> str:
        return ", ".join(str(r) + ("/" if r.is_dir() else "") for r in self._roots) or "nothing"
