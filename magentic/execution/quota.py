"""A size limit on the workspace: a loop-mounted filesystem image, sized to the quota.

Code in a sandbox writes only to the workspace (and a size-capped /tmp); without a limit
it can fill the host's disk (a 20 GiB `fallocate` succeeded). So while the sandbox is up,
the workspace folder is a small ext4 filesystem of its own, mounted at the same path: the
sandboxes bind it as before, the FileSurfer and downloads see the same folder, and a write
past the quota fails inside the sandbox with "No space left on device" (ENOSPC) while the
run goes on. At close the files are copied back into the plain folder and the image is
deleted, so what comes back is bounded by the quota too.

A process killed outright (SIGKILL, OOM) cannot unmount. So each mount has a lock file
beside its image (`<image>.lock`), held with `flock` by the process that mounted it for as
long as it is mounted; the kernel drops the lock when that process dies, however it dies.
The first attach of every later process sweeps: a quota mount of ours whose lock it can take
belongs to a dead process, and is taken off (files copied back, image deleted) exactly as a
normal close would; a live owner's lock is held, so its mount is left alone.

It needs root (mount) and loop devices. Where those are missing the executor says once that
the quota is not enforced, and caps each file at the quota's size instead (RLIMIT_FSIZE:
"File too large"), which bounds one runaway file but not many. All of it blocks: use a
thread.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import fcntl
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_MIN_FREE = 1024 * 1024  # below this much room the quota counts as used up
_OVERHEAD = 8 * 1024 * 1024  # ext4's own tables, on top of the quota


@dataclass
class QuotaMount:
    """One workspace mounted on its own size-limited filesystem."""

    workspace: Path
    image: Path
    limit: int
    users: int = 1
    lock_fd: int = -1  # the flock that says this process owns the mount

    def room(self) -> int:
        """Bytes that may still be written."""
        st = os.statvfs(self.workspace)
        return st.f_bavail * st.f_frsize

    def full(self) -> bool:
        try:
            return self.room() < max(_MIN_FREE, self.limit // 100)
        except OSError:
            return False


async def is_full(mount: QuotaMount | None) -> bool:
    """Whether the workspace's quota is used up (False when there is no quota)."""
    return mount is not None and await asyncio.to_thread(mount.full)


class WorkspaceQuota:
    """One executor's hold on its workspace quota: attached before the sandbox starts (a
    container must bind the quota filesystem, not the folder under it), released when the
    executor closes, and never left mounted by a start that failed or was cancelled."""

    def __init__(self, workspace: Path, limit: int) -> None:
        self.workspace, self.limit = workspace, limit
        self.mount: QuotaMount | None = None

    @property
    def enforced(self) -> bool:
        return self.mount is not None

    async def start_with(self, start: Callable[[], Awaitable[None]], notes: list[str]) -> None:
        """Attach (once), then `start()`; why the quota is not enforced goes to the log and
        to `notes`, which the executor tells with its next result."""
        attached = False
        if self.mount is None:
            self.mount, why = await asyncio.to_thread(attach, self.workspace, self.limit)
            attached = self.mount is not None
            if why:
                log.warning(why)
                notes.append(why)
        try:
            await start()
        except BaseException:  # failed or cancelled: no mount outlives a start that failed
            if attached:
                await asyncio.shield(self.release())
            raise

    async def is_full(self) -> bool:
        return await is_full(self.mount)

    async def release(self) -> None:
        mount, self.mount = self.mount, None
        if mount is not None:
            await asyncio.to_thread(detach, mount)


_mounts: dict[Path, QuotaMount] = {}
_lock = threading.Lock()
_hook = False


def attach(workspace: Path, limit: int) -> tuple[QuotaMount | None, str | None]:
    """Put `workspace` on a filesystem with `limit` bytes of room for new files.

    Returns the mount, or None and a one-line reason when no quota can be set here.
    Executors of one process share the mount of one workspace.
    """
    if limit <= 0:
        return None, None
    workspace = workspace.resolve()
    with _lock:
        _sweep_once()
        known = _mounts.get(workspace)
        if known is not None:
            known.users += 1
            return known, None
        missing = _missing()
        if missing:
            return None, f"the workspace quota is not enforced here: {missing}"
        source = _mount_source(workspace)
        if source is not None:
            image = _leftover_image(workspace, source)
            if image is None:
                return None, "the workspace quota is not enforced: the workspace is a mount already"
            # a process that died without cleaning up left it: take it over, close frees it
            lock_fd = _own(image)
            if lock_fd < 0:
                return None, "the workspace quota is not enforced: another process has it"
            mount = QuotaMount(workspace, image, limit, lock_fd=lock_fd)
            _mounts[workspace] = mount
            _install_hook()
            return mount, None
        try:
            mount = _mount(workspace, limit)
        except (OSError, subprocess.SubprocessError) as exc:
            return None, f"the workspace quota is not enforced: {_why(exc)}"
        _mounts[workspace] = mount
        _install_hook()
        return mount, None


def detach(mount: QuotaMount) -> None:
    """Let go of the workspace; the last user copies its files back into the plain folder."""
    with _lock:
        mount.users -= 1
        if mount.users > 0 or _mounts.get(mount.workspace) is not mount:
            return
        del _mounts[mount.workspace]
        _unmount(mount)


def _missing() -> str:
    if os.geteuid() != 0:
        return "it needs root to mount a filesystem image (run as root, or accept no quota)"
    if not os.path.exists("/dev/loop-control"):
        return "this machine has no loop devices"
    for tool in ("mkfs.ext4", "mount", "umount", "cp"):
        if not shutil.which(tool):
            return f"{tool} is not installed"
    return ""


def _mount(workspace: Path, limit: int) -> QuotaMount:
    """Make the image, mount it over the workspace, and move the workspace's files in."""
    st = workspace.stat()
    used = _disk_usage(workspace)
    size = limit + used + used // 16 + limit // 32 + _OVERHEAD
    fd, name = tempfile.mkstemp(prefix=f".{workspace.name}-quota-", suffix=".img",
                                dir=workspace.parent)  # fmt: skip
    image = Path(name)
    aside: Path | None = None
    mounted = False
    lock_fd = _own(image)  # before the mount: a sweep never sees it unowned
    try:
        os.ftruncate(fd, size)
        os.close(fd)
        fd = -1
        _sh("mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal",
            "-E", f"root_owner={st.st_uid}:{st.st_gid}", str(image))  # fmt: skip
        aside = Path(tempfile.mkdtemp(prefix=f".{workspace.name}-aside-", dir=workspace.parent))
        for entry in os.listdir(workspace):
            shutil.move(workspace / entry, aside / entry)  # a rename unless across mounts
        _sh("mount", "-o", "loop,nosuid,nodev", str(image), str(workspace))
        mounted = True
        with contextlib.suppress(OSError):
            os.rmdir(workspace / "lost+found")
        if os.listdir(aside):
            _sh("cp", "-a", f"{aside}/.", f"{workspace}/")
        shutil.rmtree(aside)
        # after the copy, which gives the root the aside folder's owner and mode
        os.chown(workspace, st.st_uid, st.st_gid)
        os.chmod(workspace, st.st_mode & 0o7777)
        aside = None
        return QuotaMount(workspace, image, limit, lock_fd=lock_fd)
    except BaseException:
        _disown(image, lock_fd)
        if mounted:
            with contextlib.suppress(Exception):
                _sh("umount", "-l", str(workspace))
        if aside is not None:  # put the files back where they were
            for entry in os.listdir(aside):
                with contextlib.suppress(OSError):
                    shutil.move(aside / entry, workspace / entry)
            with contextlib.suppress(OSError):
                aside.rmdir()
        if fd >= 0:
            os.close(fd)
        image.unlink(missing_ok=True)
        raise


def _unmount(mount: QuotaMount) -> None:
    """Copy the files out, unmount, move them into the plain folder, delete the image."""
    workspace = mount.workspace
    back = Path(tempfile.mkdtemp(prefix=f".{workspace.name}-back-", dir=workspace.parent))
    try:
        with contextlib.suppress(OSError):
            os.rmdir(workspace / "lost+found")
        _sh("cp", "-a", f"{workspace}/.", f"{back}/")
        try:
            _sh("umount", str(workspace))
        except subprocess.CalledProcessError:
            _sh("umount", "-l", str(workspace))  # something still holds a file open
        for entry in os.listdir(back):
            shutil.move(back / entry, workspace / entry)
        back.rmdir()
        mount.image.unlink(missing_ok=True)
        _disown(mount.image, mount.lock_fd)
        mount.lock_fd = -1
    except (OSError, subprocess.SubprocessError) as exc:
        log.error("could not take the workspace off its quota filesystem: %s", _why(exc))
        raise


def _mount_source(path: Path) -> str | None:
    """What is mounted on `path` (its device), or None. Unlike os.path.ismount this also
    sees a bind mount of a folder of the same filesystem."""
    source = None
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if len(fields) > 9 and fields[4] == str(path):
            source = fields[fields.index("-") + 2]  # the last one mounted is on top
    return source


def _leftover_image(workspace: Path, source: str) -> Path | None:
    """The quota image mounted from `source`, when it is one of ours (by its name)."""
    backing = Path(f"/sys/block/{os.path.basename(source)}/loop/backing_file")
    try:
        image = Path(backing.read_text().strip())
    except OSError:
        return None
    ours = image.parent == workspace.parent and image.name.startswith(f".{workspace.name}-")
    return image if ours and image.name.endswith(".img") else None


def _own(image: Path, *, create: bool = True) -> int:
    """Take the lock of `image`'s mount (made if missing, with `create`): its descriptor, or
    -1 when a live process holds it (or, without `create`, there is none). Kept open
    (close-on-exec) for as long as the mount lasts."""
    flags = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_CREAT if create else 0)
    try:
        fd = os.open(f"{image}.lock", flags, 0o600)
    except FileNotFoundError:
        return -1
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return -1
    return fd


def _disown(image: Path, lock_fd: int) -> None:
    """Remove the lock file, then let the lock go."""
    if lock_fd >= 0:
        with contextlib.suppress(OSError):
            os.unlink(f"{image}.lock")
        os.close(lock_fd)


_swept = False


def _sweep_once() -> None:
    global _swept
    if not _swept:
        _swept = True
        with contextlib.suppress(Exception):  # a sweep must never stop a start
            sweep_stale()


def sweep_stale() -> list[Path]:
    """Take off every quota mount of ours whose owner process is dead (its lock is free):
    the files go back into the plain folder and the image is deleted. The workspaces freed.
    Needs root; blocking."""
    freed: list[Path] = []
    if os.geteuid() != 0:
        return freed
    for workspace, source in _mounts_of_loops():
        if workspace in _mounts:
            continue  # this process's own
        image = _leftover_image(workspace, source)
        if image is None:
            continue
        # No lock file: made by a version without locks, whose owner we cannot tell; a
        # held one: a live owner. Either way it is left alone.
        lock_fd = _own(image, create=False)
        if lock_fd < 0:
            continue
        try:
            _unmount(QuotaMount(workspace, image, 0, lock_fd=lock_fd))
        except (OSError, subprocess.SubprocessError):
            _disown(image, lock_fd)
            continue
        freed.append(workspace)
    if freed:
        log.info("took %d workspace(s) of dead processes off their quota", len(freed))
    return freed


def _mounts_of_loops() -> list[tuple[Path, str]]:
    """(mount point, device) of each loop-device mount whose folder looks like a workspace
    of ours (an image named after it lies beside it)."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if "-" not in fields or len(fields) < 10:
            continue
        source = fields[fields.index("-") + 2]
        if not source.startswith("/dev/loop"):
            continue
        point = Path(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4]))
        found.append((point, source))
    return found


def _disk_usage(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total


def _sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=120)


def _why(exc: BaseException) -> str:
    if isinstance(exc, subprocess.CalledProcessError):
        detail = (exc.stderr or b"").decode(errors="replace").strip().splitlines()
        return f"{exc.cmd[0]} failed: {detail[-1] if detail else exc.returncode}"
    return str(exc)


def _install_hook() -> None:
    global _hook
    if not _hook:
        atexit.register(detach_all)
        _hook = True


def detach_all() -> None:
    """The exit path (atexit, SIGTERM): no workspace stays a mount after its process ends."""
    for mount in list(_mounts.values()):
        mount.users = 1
        with contextlib.suppress(Exception):
            detach(mount)
