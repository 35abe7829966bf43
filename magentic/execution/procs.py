"""Run one host process tree with a deadline, bounded output and a kill that leaves nothing.

Shared by the bubblewrap and local executors. The process starts in a new session, so one
killpg reaches everything it forked that stayed in its process group; under bubblewrap the
whole PID namespace dies with it (--die-with-parent), which also catches what escaped.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from magentic.errors import SandboxError
from magentic.execution.common import OutputBuffer

_CHUNK = 65536
_DRAIN_AFTER_KILL_S = 2.0  # a grandchild that left the group may hold the pipes open


@dataclass
class ProcessOutcome:
    returncode: int | None  # None when we killed it
    timed_out: bool


async def run_process(
    argv: Sequence[str],
    *,
    cwd: str,
    env: Mapping[str, str],
    timeout: float,
    out: OutputBuffer,
    err: OutputBuffer,
    user: tuple[int, int] | None = None,
    pass_fds: Sequence[int] = (),
) -> ProcessOutcome:
    """Run argv to completion or to `timeout`; on timeout or cancellation kill the group.

    `user` switches to that uid:gid (with no supplementary groups) before exec: only root
    can, and it is how root hands code to an unprivileged user.
    """
    extra: dict[str, object] = {}
    if user is not None:
        extra = {"user": user[0], "group": user[1], "extra_groups": []}
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=dict(env),
            start_new_session=True,
            pass_fds=tuple(pass_fds),
            **extra,  # type: ignore[arg-type]
        )
    except OSError as exc:
        raise SandboxError(f"cannot start {argv[0]}: {exc.strerror or exc}") from exc
    assert proc.stdout is not None and proc.stderr is not None
    readers = asyncio.gather(_pump(proc.stdout, out), _pump(proc.stderr, err))
    try:
        await asyncio.wait_for(proc.wait(), timeout)
    except asyncio.TimeoutError:
        await _kill(proc, readers)
        return ProcessOutcome(None, True)
    except BaseException:  # cancelled: nothing of the block may keep running
        await asyncio.shield(_kill(proc, readers))
        raise
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.shield(readers), _DRAIN_AFTER_KILL_S)
    if not readers.done():  # a detached child kept the pipes: end it too
        await _kill(proc, readers)
    return ProcessOutcome(proc.returncode, False)


async def _pump(stream: asyncio.StreamReader, buf: OutputBuffer) -> None:
    while chunk := await stream.read(_CHUNK):
        buf.feed(chunk)


async def _kill(proc: asyncio.subprocess.Process, readers: asyncio.Future[Any]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    await proc.wait()
    try:
        await asyncio.wait_for(asyncio.shield(readers), _DRAIN_AFTER_KILL_S)
    except asyncio.TimeoutError:
        readers.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await readers


@functools.lru_cache(maxsize=8)
def resolve_python(candidate: str) -> str:
    """The real interpreter behind `python3` (pyenv shims and venvs resolve to a file).

    Blocking, run once per interpreter name and cached.
    """
    try:
        done = subprocess.run(
            [candidate, "-c", "import sys; print(sys.executable)"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise SandboxError(f"no usable Python interpreter {candidate!r}: {exc}") from exc
    return done.stdout.strip() or candidate


def world_executable(path: str) -> bool:
    """Whether a user other than the owner may run `path` (every folder on the way included)."""
    real = os.path.realpath(path)
    try:
        if os.stat(real).st_mode & 0o005 != 0o005:
            return False
    except OSError:
        return False
    return reachable(os.path.dirname(real))


def reachable(folder: str | os.PathLike[str]) -> bool:
    """Whether any user may walk into `folder` (every folder above it lets others pass)."""
    folder = os.path.realpath(folder)
    try:
        while True:
            if os.stat(folder).st_mode & 0o001 == 0:
                return False
            parent = os.path.dirname(folder)
            if parent == folder:
                return True
            folder = parent
    except OSError:
        return False
