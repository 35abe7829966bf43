"""Whether a run folder is ours to resume, and how its files are read without trusting it.

`magentic resume` reads a folder and then acts on what it says: which endpoint, which
tabs, which files. A folder someone else wrote, or one others may write into, is refused
before a byte of it is believed, as git refuses a repository owned by another user
(`safe.directory`): the folder, the checkpoint, the call and side-effect journals, the
trace and the checkpoint images must belong to the user running magentic and be writable
by no one else. Symbolic links are never followed in any of them.

Paths a checkpoint names (attachments, files in the conversation, the FileSurfer's open
file) are taken only when they lie inside the run folder with no link on the way
(`magentic.safe_paths`).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from magentic.errors import CheckpointError
from magentic.safe_paths import inside, read_file

__all__ = ["check_owned", "check_run_folder", "inside", "read_file"]

# The files a resume reads and writes in the run folder besides the checkpoint.
JOURNALS = ("calls.jsonl", "effects.jsonl", "trace.jsonl")
IMAGES_DIR = "checkpoint-images"


def _owner(uid: int) -> str:
    try:
        import pwd

        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


def check_owned(path: Path, *, folder: bool) -> None:
    """Refuse `path` unless it is ours, of the right type, not a link, and not writable by
    group or others. Missing is the caller's business (raises FileNotFoundError)."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise CheckpointError(f"{path} is a symbolic link; a resume follows none")
    if folder != stat.S_ISDIR(info.st_mode) or (not folder and not stat.S_ISREG(info.st_mode)):
        raise CheckpointError(f"{path} is not a {'folder' if folder else 'plain file'}")
    me = os.geteuid()
    if info.st_uid != me:
        raise CheckpointError(
            f"{path} belongs to {_owner(info.st_uid)}, not to you ({_owner(me)}); "
            "a run folder is resumed only by its owner (copy it if you trust it)"
        )
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise CheckpointError(
            f"{path} is writable by {'others' if info.st_mode & stat.S_IWOTH else 'its group'} "
            f"(mode {stat.S_IMODE(info.st_mode):o}); resume it after `chmod go-w`"
        )


def check_run_folder(run_dir: Path) -> None:
    """The run folder and every file of it a resume reads or appends to. Blocking."""
    run_dir = Path(run_dir)
    try:
        check_owned(run_dir, folder=True)
    except FileNotFoundError:
        raise CheckpointError(f"{run_dir} is not a run folder") from None
    for name in ("checkpoint.json", *JOURNALS):
        try:
            check_owned(run_dir / name, folder=False)
        except FileNotFoundError:
            continue  # a missing checkpoint is said by the reader; journals are optional
    images = run_dir / IMAGES_DIR
    try:
        check_owned(images, folder=True)
    except FileNotFoundError:
        return
    with os.scandir(images) as entries:
        for entry in entries:
            check_owned(Path(entry.path), folder=False)
    workspace = run_dir / "workspace"
    if workspace.is_symlink():  # the sandbox owns what is inside, never the folder itself
        raise CheckpointError(f"{workspace} is a symbolic link; a resume follows none")
