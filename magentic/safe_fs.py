"""Host-side file access inside a folder that someone else may also write (the workspace).

Why: code in the sandbox can replace anything under the workspace at any moment, for
instance a folder with a symbolic link to `/etc` or `/root`. A host process (root, often)
that writes `workspace/downloads/x` by name would follow that link and write outside the run;
one that reads `workspace/chart.png` by name could read a host file instead and send it to
the model. Checking first (`is_symlink`, `resolve`) does not help: the link can be swapped in
between the check and the use.

How: every path is walked one component at a time from a directory file descriptor, each
folder opened with `O_DIRECTORY | O_NOFOLLOW` relative to the one before (`dir_fd`), and the
last component opened with `O_NOFOLLOW` (and `O_CREAT | O_EXCL` for a new file, so nothing
that exists, link or file, is ever written through). A link anywhere on the way makes the
call fail with OSError (ELOOP or ENOTDIR); there is no window to race, since no name is ever
looked up twice. The root folder itself must be one the sandbox cannot replace (the run
folder's `workspace` entry: the sandbox sees only what is inside it).

Host-side scratch (caches, unpacked archives) does not belong in the workspace at all: it
goes to the run's private folder (`private_dir`), which is never mounted into a sandbox.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO, Any, BinaryIO

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_CHUNK = 1 << 20


class UnsafePath(OSError):
    """A relative path that is empty, absolute or climbs out (`..`): never walked."""


def parts_of(relative: str | os.PathLike[str]) -> list[str]:
    """The components of a path relative to a root; UnsafePath for one that could leave it."""
    text = os.fspath(relative)
    pure = PurePosixPath(text)
    parts = [p for p in pure.parts if p not in ("", ".")]
    if not parts or pure.is_absolute() or ".." in parts or "\x00" in text:
        raise UnsafePath(f"not a plain relative path: {text!r}")
    return parts


def open_root(root: Path) -> int:
    """A descriptor of `root` (which must be a real folder, not a link)."""
    return os.open(root, _DIR_FLAGS)


@contextlib.contextmanager
def folder(
    root: Path, parts: list[str], *, create: bool = False, mode: int = 0o755
) -> Iterator[int]:
    """A descriptor of `root/parts...`, walked without following links; the folders missing
    on the way are made (`mode`) when `create`. Closed when the block ends."""
    fd = open_root(root)
    try:
        for part in parts:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, mode, dir_fd=fd)
            nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nxt
        yield fd
    finally:
        os.close(fd)


def create(
    root: Path,
    relative: str | os.PathLike[str],
    *,
    mode: int = 0o600,
    folders: int = 0o755,
    replace: bool = False,
    parents: bool = True,
) -> BinaryIO:
    """A new file `root/relative` open for writing, its folders made as needed (`folders`;
    with `parents=False` they must exist).

    Without `replace` the file must not exist (O_EXCL: an existing name, a link included,
    is FileExistsError); with it an existing regular file is truncated, a link still refused.
    """
    *dirs, name = parts_of(relative)
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    flags |= os.O_TRUNC if replace else os.O_EXCL
    with folder(root, dirs, create=parents, mode=folders) as dir_fd:
        fd = os.open(name, flags, mode, dir_fd=dir_fd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # a fifo or device the sandbox put there
            raise OSError(f"{relative} is not a regular file")
        os.fchmod(fd, mode)  # the umask must not widen or narrow what was asked
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise


def create_unique(
    root: Path, folder_parts: list[str], name: str, *, mode: int = 0o644
) -> tuple[Path, BinaryIO]:
    """A new file named `name` (or `stem-2.ext`, `stem-3.ext`...) in `root/folder_parts`:
    the first name nothing (not even a link) has; its path and the open file."""
    stem, dot, ext = name.rpartition(".") if "." in name.strip(".") else (name, "", "")
    suffix = f"{dot}{ext}"
    for n in range(1, 10_000):
        candidate = name if n == 1 else f"{stem}-{n}{suffix}"
        try:
            file = create(root, PurePosixPath(*folder_parts, candidate), mode=mode)
        except FileExistsError:
            continue
        return root.joinpath(*folder_parts, candidate), file
    raise FileExistsError(f"no free name for {name} in {root}")


def write_atomic(
    root: Path, relative: str | os.PathLike[str], data: bytes, *, mode: int = 0o600
) -> None:
    """Write `root/relative` whole: a temporary file beside it, then renamed over it (within
    the folder's descriptor, so the rename cannot be steered either)."""
    *dirs, name = parts_of(relative)
    tmp = f".{name}.{os.getpid()}.tmp"
    with folder(root, dirs, create=True, mode=0o700) as dir_fd:
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode, dir_fd=dir_fd
        )
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
            raise


def open_read(root: Path, relative: str | os.PathLike[str]) -> BinaryIO:
    """`root/relative` open for reading, walked without following a link anywhere; only a
    regular file (a fifo would block the reader)."""
    *dirs, name = parts_of(relative)
    with folder(root, dirs) as dir_fd:
        fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
    return _regular_reader(fd, relative)


def open_nofollow(path: Path) -> BinaryIO:
    """A regular file open for reading, refused if its last component is a link (its
    folders are the caller's to trust)."""
    return _regular_reader(os.open(path, _READ_FLAGS), path)


def _regular_reader(fd: int, what: str | os.PathLike[str]) -> BinaryIO:
    """`fd` as a blocking reader, if it is a regular file (a fifo would block the reader,
    hence the non-blocking open); closed and OSError otherwise."""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{os.fspath(what)} is not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def append_private(path: Path, data: bytes) -> None:
    """Append to an owner-only file (made 0600 if new), never through a link: the run's
    journals, whose every line must be on disk before the run goes on."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def read_bytes(root: Path, relative: str | os.PathLike[str], *, max_bytes: int) -> bytes:
    """The bytes of `root/relative` (see `open_read`); OSError if it is over `max_bytes`."""
    with open_read(root, relative) as file:
        data = file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise OSError(f"{relative} is over {max_bytes} bytes")
    return data


def relative_to(path: Path, root: Path) -> PurePosixPath:
    """`path` as a path under `root`, by name only (no link is resolved); UnsafePath if it
    is not under it."""
    try:
        rel = Path(os.path.abspath(path)).relative_to(os.path.abspath(root))
    except ValueError:
        raise UnsafePath(f"{path} is not inside {root}") from None
    return PurePosixPath(rel.as_posix())


def private_dir(path: Path) -> Path:
    """`path` as a folder only its owner may enter (0700), made if missing; OSError if it is
    a link or another user's. For host-side scratch and run folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    fd = open_root(path)
    try:
        st = os.fstat(fd)
        if st.st_uid != os.geteuid():
            raise PermissionError(f"{path} belongs to uid {st.st_uid}, not to this user")
        if stat.S_IMODE(st.st_mode) != 0o700:
            os.fchmod(fd, 0o700)
    finally:
        os.close(fd)
    return path


def open_private(path: Path, mode: str = "w") -> IO[Any]:
    """`path` open for writing ("w", "a", "wb", "ab"), made owner-only (0600) even if it
    existed with a wider mode; a link as the last component is refused. For the files of a
    run folder (trace, owner note, attachments, report)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    flags |= os.O_APPEND if mode.startswith("a") else os.O_TRUNC
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
        if "b" in mode:
            return os.fdopen(fd, mode)
        return os.fdopen(fd, mode, encoding="utf-8")
    except BaseException:
        os.close(fd)
        raise


def copy_into(
    source: BinaryIO, root: Path, relative: str | os.PathLike[str], *, mode: int = 0o600
) -> int:
    """Copy an open file into a new file `root/relative` (see `create`); the bytes copied."""
    copied = 0
    with create(root, relative, mode=mode) as out:
        while chunk := source.read(_CHUNK):
            out.write(chunk)
            copied += len(chunk)
    return copied
