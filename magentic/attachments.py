"""A task's attached files, checked and copied into the run's workspace.

What a user or a suite attaches is copied, not linked: the sandbox writes the workspace, and
must never write (or, through a link, reach) the original. Before copying, each file must be
a regular file this process can read, no larger than the cap (`[attachments] max_mb`; a
sparse file counts by its apparent size, which is what a copy would write). A symbolic link
is followed only to such a file, and the run's trace records that it was a link and where it
led. Copying blocks, so `prepare_workspace` runs it in a worker thread: a large copy must not
stall every other task of a benchmark run on the same event loop.

A copy is never more open than its source: its mode is the source's, capped at 0600 (owner
read and write; the owner may always read it). So an attached link to a private 0600 file
gives a 0600 copy, and a 0644 file a 0600 one: the run folder is private, and the sandbox
reaches the copy as its owner (the workspace is handed to the sandbox's user). The copy is
made through `safe_fs` (a new file, no link followed), and the run folder is made 0700.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from magentic.errors import ConfigError
from magentic.safe_fs import create_unique, private_dir
from magentic.text import escape_surrogates

_CHUNK = 1 << 20


class AttachmentSettings(BaseModel):
    """The `[attachments]` table of a config file."""

    model_config = ConfigDict(extra="forbid")
    max_mb: float = Field(default=200.0, gt=0, description="a larger attached file is refused")


@dataclass(frozen=True)
class Attached:
    """One attached file: what was given, what it resolved to, and its copy."""

    given: Path
    source: Path  # the real file (the link's target, for a link)
    copy: Path
    size: int
    link: bool = False

    def note(self) -> dict[str, Any]:
        """What the trace records of it."""
        entry: dict[str, Any] = {
            "given": escape_surrogates(str(self.given)),
            "copied_to": escape_surrogates(self.copy.name),
            "bytes": self.size,
        }
        if self.link:
            entry["symlink_to"] = escape_surrogates(str(self.source))
        return entry


def check_attachment(path: Path, max_bytes: int) -> tuple[Path, os.stat_result, bool]:
    """The real file behind `path`, its stat and whether `path` was a link; or ConfigError."""
    shown = escape_surrogates(str(path))
    try:
        link = stat.S_ISLNK(os.lstat(path).st_mode)
        source = Path(path).resolve(strict=True)
        st = os.stat(source)
    except (OSError, RuntimeError):  # missing, a dangling link, a loop of links
        raise ConfigError(f"attached file not found: {shown}") from None
    via = f" (a symbolic link to {escape_surrogates(str(source))})" if link else ""
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"attached file {shown}{via} is not a regular file")
    if not os.access(source, os.R_OK):
        raise ConfigError(f"attached file {shown}{via} is not readable")
    if st.st_size > max_bytes:
        raise ConfigError(
            f"attached file {shown}{via} is {st.st_size / 2**20:.1f} MB, over the "
            f"{max_bytes / 2**20:.1f} MB limit ([attachments] max_mb)"
        )
    return source, st, link


def copy_attachments(files: Iterable[Path], workspace: Path, max_bytes: int) -> list[Attached]:
    """Check every file first (nothing is copied if one is refused), then copy each.

    Blocking: call it in a worker thread.
    """
    checked = [(Path(f), *check_attachment(Path(f), max_bytes)) for f in files]
    workspace.mkdir(parents=True, exist_ok=True)
    attached = []
    for given, source, st, link in checked:
        target, size = _bounded_copy(
            source, workspace, escape_surrogates(given.name), st, max_bytes
        )
        attached.append(Attached(given, source, target, size, link))
    return attached


async def prepare_workspace(
    run_dir: Path, files: Iterable[Path], max_bytes: int
) -> tuple[Path, list[Attached]]:
    """The run's private folder and its workspace, with the task's files copied in (in a
    worker thread)."""
    workspace = Path(run_dir) / "workspace"

    def prepare() -> list[Attached]:
        try:
            private_dir(Path(run_dir))
        except OSError as error:  # another user's folder, a link, a file in the way
            raise ConfigError(
                f"the run folder {escape_surrogates(str(run_dir))} cannot be made private to "
                f"this user: {escape_surrogates(str(error))}"
            ) from None
        return copy_attachments(list(files), workspace, max_bytes)

    attached = await asyncio.to_thread(prepare)
    return workspace, attached


def copy_mode(st: os.stat_result) -> int:
    """The source's permission bits capped at 0600, owner-readable: never more open."""
    return (stat.S_IMODE(st.st_mode) & 0o600) | 0o400


def _bounded_copy(
    source: Path, folder: Path, name: str, st: os.stat_result, max_bytes: int
) -> tuple[Path, int]:
    """Copy at most `max_bytes` into a new `name` (or `name-2`...) in `folder`, and its path
    (a file that grows while we copy is refused, not followed)."""
    copied = 0
    with source.open("rb") as src:
        target, dst = create_unique(folder, [], name, mode=copy_mode(st))
        with dst:
            while chunk := src.read(_CHUNK):
                copied += len(chunk)
                if copied > max_bytes:
                    dst.close()
                    target.unlink()
                    raise ConfigError(
                        f"attached file {escape_surrogates(str(source))} grew past the "
                        f"{max_bytes / 2**20:.1f} MB limit while it was copied"
                    )
                dst.write(chunk)
            dst.flush()
            os.utime(dst.fileno(), ns=(st.st_atime_ns, st.st_mtime_ns))
    return target, copied
