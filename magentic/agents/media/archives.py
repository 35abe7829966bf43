"""Tar archives listed (in the conversion worker) and any archive's members extracted safely
into the run's private scratch folder, never the workspace (in a worker thread of the
agent's process, once the listing passed).

Extraction refuses members that would land outside the target folder (`../x`, absolute
paths), links, devices and fifos; it stops at the size, count and ratio limits the ZIP check
uses, counting the bytes actually written, so a header that lies about sizes cannot make it
write more. A bomb is refused before anything is written. Every file is created through
`safe_fs` (no link followed on the way, owner-only modes), so even a scratch folder someone
tampered with cannot steer a write elsewhere.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from magentic.agents.file_zipguard import ZipLimits
from magentic.safe_fs import create, private_dir

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


class ArchiveRefused(Exception):
    """`str()` says why, in one sentence."""


def is_tar_name(name: str) -> bool:
    return name.lower().endswith(TAR_SUFFIXES)


def is_archive_name(name: str) -> bool:
    return is_tar_name(name) or name.lower().endswith(".zip")


def unsafe_reason(name: str) -> str | None:
    """Why a member name may not be extracted, or None."""
    pure = PurePosixPath(name.replace("\\", "/"))
    if not name.strip() or pure.is_absolute() or re.match(r"^[A-Za-z]:", name):
        return "an absolute path"
    if ".." in pure.parts:
        return "a path that climbs out of the archive (..)"
    return None


def _check_totals(name: str, count: int, total: int, disk: int, limits: ZipLimits) -> None:
    if count > limits.max_members:
        raise ArchiveRefused(
            f"{name} holds {count} members, over the limit of {limits.max_members}"
        )
    if total > limits.max_total_bytes:
        raise ArchiveRefused(
            f"{name} would unpack to {total / 2**20:.1f} MB, over the "
            f"{limits.max_total_bytes / 2**20:.1f} MB limit (an archive bomb?)"
        )
    if total > limits.ratio_floor_bytes and total / max(disk, 1) > limits.max_ratio:
        raise ArchiveRefused(
            f"{name} would unpack to {total / max(disk, 1):.0f} times its size on disk (the "
            f"limit is {limits.max_ratio:.0f}; an archive bomb?)"
        )


def tar_listing(path: Path, limits: ZipLimits) -> str:
    """The members of a tar archive (compressed or not), checked against `limits`."""
    rows: list[str] = []
    refused: list[str] = []
    count = total = 0
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:  # streams the headers; a compressed archive is read through
                count += 1
                total += member.size if member.isfile() else 0
                _check_totals(path.name, count, total, path.stat().st_size, limits)
                reason = unsafe_reason(member.name)
                if reason is None and (member.issym() or member.islnk()):
                    reason = f"a link (to {member.linkname})"
                elif reason is None and not (member.isfile() or member.isdir()):
                    reason = "a device or fifo"
                if reason:
                    refused.append(f"- {member.name}: refused, {reason}")
                elif member.isfile() and len(rows) < 500:
                    rows.append(f"| {member.name} | {member.size} bytes |")
    except (tarfile.TarError, EOFError, OSError, zlib_errors()) as exc:
        raise ArchiveRefused(
            f"Could not read {path.name} as a tar archive ({type(exc).__name__}: {exc}); "
            "truncated or damaged?"
        ) from None
    text = f"# Archive {path.name}: {count} members\n\n| file | size |\n| --- | --- |\n"
    text += "\n".join(rows)
    if refused:
        text += "\n\nMembers that will not be extracted:\n" + "\n".join(refused[:100])
    return text


def zlib_errors() -> type[Exception]:
    import zlib

    return zlib.error


@dataclass
class Extracted:
    folder: Path
    files: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def extraction_folder(archive: Path, root: Path) -> Path:
    st = archive.stat()
    key = f"{archive}|{st.st_size}|{st.st_mtime_ns}".encode("utf-8", "surrogateescape")
    return root / f"{archive.name[:60]}.{hashlib.sha256(key).hexdigest()[:12]}"


def extract(archive: Path, root: Path, limits: ZipLimits) -> Extracted:
    """Every safe member of `archive` written under a folder of `root` (done once: a second
    call finds the finished folder). Raises ArchiveRefused for a bomb or unreadable file."""
    target = extraction_folder(archive, root)
    done_mark = target / ".complete"
    result = Extracted(target)
    if done_mark.exists():
        result.files = sorted(
            str(p.relative_to(target)) for p in target.rglob("*") if p.is_file() and p != done_mark
        )
        return result
    partial = target.with_name(target.name + ".partial")
    private_dir(root)
    shutil.rmtree(partial, ignore_errors=True)
    private_dir(partial)
    written = [0]
    try:
        if archive.name.lower().endswith(".zip"):
            _extract_zip(archive, partial, limits, result, written)
        else:
            _extract_tar(archive, partial, limits, result, written)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    create(partial, ".complete").close()
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return result


def _copy(src, to: Path, member: str, limits: ZipLimits, written: list[int], name: str) -> None:
    with create(to, member, mode=0o600, folders=0o700, replace=True) as out:
        while chunk := src.read(1 << 20):
            written[0] += len(chunk)
            if written[0] > limits.max_total_bytes:
                raise ArchiveRefused(
                    f"{name} unpacks to more than {limits.max_total_bytes / 2**20:.1f} MB "
                    "(its headers understate it; an archive bomb?)"
                )
            out.write(chunk)


def _extract_zip(archive: Path, to: Path, limits: ZipLimits, result: Extracted, written) -> None:
    from magentic.agents.file_zipguard import ZipRejected, check_zip

    try:
        check_zip(archive, limits)
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                if info.is_dir():
                    continue
                reason = unsafe_reason(info.filename)
                if reason:
                    result.refused.append(f"{info.filename}: {reason}")
                    continue
                with zf.open(info) as src:
                    _copy(src, to, info.filename, limits, written, archive.name)
                result.files.append(info.filename)
    except ZipRejected as exc:
        raise ArchiveRefused(str(exc)) from None
    except (zipfile.BadZipFile, zlib_errors(), EOFError) as exc:
        raise ArchiveRefused(f"Could not unpack {archive.name}: {exc}") from None


def _extract_tar(archive: Path, to: Path, limits: ZipLimits, result: Extracted, written) -> None:
    try:
        with tarfile.open(archive, "r:*") as tar:
            count = 0
            for member in tar:
                count += 1
                _check_totals(archive.name, count, written[0], archive.stat().st_size, limits)
                reason = unsafe_reason(member.name)
                if reason is None and (member.issym() or member.islnk()):
                    reason = f"a link (to {member.linkname})"
                if reason:
                    result.refused.append(f"{member.name}: {reason}")
                    continue
                if not member.isfile():
                    continue
                src = tar.extractfile(member)
                if src is None:
                    continue
                _copy(src, to, member.name, limits, written, archive.name)
                result.files.append(member.name)
    except (tarfile.TarError, zlib_errors(), EOFError) as exc:
        raise ArchiveRefused(f"Could not unpack {archive.name}: {exc}") from None
