"""A ZIP container's size check, done before anything unpacks it (no model here).

DOCX, XLSX, PPTX, EPUB, ODT and plain ZIP files are ZIP archives. A few megabytes of zeros
deflate a thousandfold, and overlapping entries (many names pointing at one compressed
stream) multiply that again, so a small file can ask a converter for tens of gigabytes. The
central directory states every member's uncompressed size, and Python's zipfile never
inflates a member past its stated size, so summing those sizes before opening bounds what a
conversion can unpack. Archives inside the archive (a .docx in a .zip) are checked the same
way, to a small depth, because markitdown converts them too.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ZIP_CONTAINERS = frozenset(
    {".docx", ".xlsx", ".pptx", ".zip", ".epub", ".odt", ".ods", ".odp", ".jar", ".xlsm", ".docm"}
)


@dataclass(frozen=True)
class ZipLimits:
    """How much a ZIP container may unpack to, in all and relative to its size on disk."""

    max_total_bytes: int = 256 * 1024 * 1024
    max_ratio: float = 100.0  # uncompressed bytes per byte on disk ...
    ratio_floor_bytes: int = 16 * 1024 * 1024  # ... checked only past this many bytes
    max_members: int = 20_000
    max_depth: int = 2  # archives inside archives


class ZipRejected(Exception):
    """The archive would unpack to too much; `str()` says why in one sentence."""


def check_zip(path: Path, limits: ZipLimits) -> int:
    """Raise ZipRejected if the archive at `path` unpacks to too much; else its total size.

    Raises zipfile.BadZipFile (or OSError) for a file that is not a readable ZIP archive.
    """
    with path.open("rb") as fh:
        return _check(fh, path.stat().st_size, path.name, limits, depth=0)


def _check(fh: IO[bytes], disk_size: int, name: str, limits: ZipLimits, depth: int) -> int:
    with zipfile.ZipFile(fh) as zf:
        infos = zf.infolist()
        if len(infos) > limits.max_members:
            raise ZipRejected(
                f"{name} holds {len(infos)} files, over the limit of {limits.max_members}"
            )
        total = sum(info.file_size for info in infos)
        if total > limits.max_total_bytes:
            raise ZipRejected(
                f"{name} would unpack to {_mb(total)}, over the {_mb(limits.max_total_bytes)} "
                "limit (a zip bomb?)"
            )
        ratio = total / max(disk_size, 1)
        if total > limits.ratio_floor_bytes and ratio > limits.max_ratio:
            raise ZipRejected(
                f"{name} would unpack to {_mb(total)} from {_mb(disk_size)} on disk, "
                f"{ratio:.0f} times its size (the limit is {limits.max_ratio:.0f}; a zip bomb?)"
            )
        if depth + 1 < limits.max_depth:
            for info in infos:
                if Path(info.filename).suffix.lower() in ZIP_CONTAINERS:
                    _check_member(zf, info, limits, depth)
    return total


def _check_member(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, limits: ZipLimits, depth: int
) -> None:
    """An archive inside the archive, read into memory (its stated size is within limits)."""
    data = zf.read(info)
    try:
        _check(io.BytesIO(data), len(data), info.filename, limits, depth + 1)
    except zipfile.BadZipFile:
        return  # a member that only looks like an archive is the converter's problem


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"
