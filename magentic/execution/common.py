"""What every executor shares: bounded output, the workspace diff, who owns the workspace,
reading a failure for the model, and the text a person or a model reads about a run.

Keeping this in one place is what makes the three executors report the same things the
same way, so a model learns one result shape whatever sandbox the run uses.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from magentic.execution.base import CodeBlock, ExecutionResult
from magentic.execution.blocks import BASH, PYTHON, SH, normalize_language
from magentic.execution.settings import SandboxSettings

# The uid code runs as when magentic itself runs as root: the image's `sandbox` user.
SANDBOX_UID = 1000
SANDBOX_GID = 1000
_SNAPSHOT_LIMIT = 20_000  # files; a bigger workspace is diffed only this far
_SCAN_LIMIT = 200_000  # characters of output searched for known failures


class OutputBuffer:
    """Keeps the head and the tail of a stream and counts what falls in between.

    Output is collected as it arrives, so a block printing in a loop cannot fill the
    host's memory: at most `limit` bytes are ever held.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._head = bytearray()
        self._tail = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> None:
        if not data:
            return
        self.total += len(data)
        room = self.limit // 2 - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        if data:
            self._tail += data
            keep = self.limit - self.limit // 2
            if len(self._tail) > keep:
                del self._tail[: len(self._tail) - keep]

    @property
    def cut(self) -> int:
        return self.total - len(self._head) - len(self._tail)

    def text(self) -> str:
        head = self._head.decode("utf-8", errors="replace")
        if not self.cut:
            return head + self._tail.decode("utf-8", errors="replace")
        tail = self._tail.decode("utf-8", errors="replace")
        return f"{head}\n[... {self.cut:,} bytes cut here ...]\n{tail}"


@dataclass
class BlockRun:
    """One block about to run: its interpreter command and the script path it reads."""

    block: CodeBlock
    argv: list[str]
    script: str
    deadline: float  # time.monotonic() by which the whole run() must end


# Runs one block; returns (exit code, timed out). Output goes into the two buffers.
BlockRunner = Callable[
    [BlockRun, "OutputBuffer", "OutputBuffer", ExecutionResult], Awaitable[tuple[int | None, bool]]
]


async def run_blocks(
    blocks: Sequence[CodeBlock],
    *,
    timeout: float,
    workspace: Path,
    output_limit: int,
    script_path: Callable[[CodeBlock], str],
    run_one: BlockRunner,
) -> tuple[ExecutionResult, OutputBuffer, OutputBuffer]:
    """Run blocks in order until one fails or time runs out; every executor's loop.

    Returns the result (exit code, output, changed files, duration) and the two buffers,
    so the executor can add what only it can tell (why a process died, what was cut).
    """
    started = time.monotonic()
    deadline = started + timeout
    out = OutputBuffer(output_limit)
    err = OutputBuffer(output_limit)
    before = await asyncio.to_thread(snapshot, workspace)
    result = ExecutionResult(exit_code=0, stdout="", stderr="")
    for block in blocks:
        script = script_path(block)
        argv = block_argv(block, script)
        if argv is None:
            result.exit_code = 1
            result.notes.append(unsupported(block))
            break
        exit_code, timed_out = await run_one(
            BlockRun(block, argv, script, deadline), out, err, result
        )
        result.exit_code, result.timed_out = exit_code, timed_out
        if timed_out or exit_code != 0:
            break
    result.duration_s = time.monotonic() - started
    result.stdout, result.stderr = out.text(), err.text()
    result.files = changed_files(before, await asyncio.to_thread(snapshot, workspace))
    return result, out, err


def block_argv(block: CodeBlock, path: str) -> list[str] | None:
    """The command that runs a block saved at `path`, or None for a language we cannot run."""
    family = normalize_language(block.language)
    if family == PYTHON:
        return ["python3", path]
    if family in (SH, BASH):
        return [family, path]
    return None


def block_suffix(block: CodeBlock) -> str:
    return ".py" if normalize_language(block.language) == PYTHON else ".sh"


def unsupported(block: CodeBlock) -> str:
    return (
        f"cannot run a block tagged {block.language!r}: this sandbox runs python and "
        "shell (sh, bash) blocks only"
    )


# ---------------------------------------------------------------------------- workspace


Snapshot = dict[str, tuple[int, int, int]]


def snapshot(root: Path) -> Snapshot:
    """(mtime, size, inode) of every regular file under root; blocking, run it in a thread."""
    seen: Snapshot = {}
    stack = [str(root)]
    while stack and len(seen) < _SNAPSHOT_LIMIT:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != "__pycache__":
                        stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    seen[entry.path] = (st.st_mtime_ns, st.st_size, st.st_ino)
            except OSError:
                continue
    return seen


def changed_files(before: Snapshot, after: Snapshot) -> list[Path]:
    """Files that are new or whose content may have changed, in a stable order."""
    return [Path(p) for p in sorted(after) if before.get(p) != after[p]]


def sandbox_ids(workspace: Path) -> tuple[int, int]:
    """The uid:gid code runs as, so that it can write the workspace and nothing of root's.

    A normal user runs code as themselves (bind-mounted files keep their owner). Root runs
    it as the workspace's owner, or, when root owns the workspace, hands the workspace to
    the unprivileged sandbox user first. Blocking (it may chown a tree): use a thread.
    """
    if os.geteuid() != 0:
        return os.geteuid(), os.getegid()
    st = workspace.stat()
    if st.st_uid != 0:
        return st.st_uid, st.st_gid
    for folder, dirs, files in os.walk(workspace):
        os.chown(folder, SANDBOX_UID, SANDBOX_GID, follow_symlinks=False)
        for name in dirs + files:
            os.chown(os.path.join(folder, name), SANDBOX_UID, SANDBOX_GID, follow_symlinks=False)
    return SANDBOX_UID, SANDBOX_GID


def sandbox_env(home: str, path: str) -> dict[str, str]:
    """A small, known environment: the host's (API keys included) never reaches the code."""
    return {
        "PATH": path,
        "HOME": home,
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": "/tmp/matplotlib",
    }


# ------------------------------------------------------------------------- diagnosis

_NO_MODULE = re.compile(r"ModuleNotFoundError: No module named '([^'.]+)")
_PIDS = re.compile(
    r"Resource temporarily unavailable|fork: retry|Cannot fork|can't start new thread"
    r"|BlockingIOError: \[Errno 11\]"
)
_MEMORY = re.compile(
    r"\bMemoryError\b|Unable to allocate|Cannot allocate memory|std::bad_alloc|out of memory"
)
_NETWORK = re.compile(
    r"Temporary failure in name resolution|Name or service not known|Network is unreachable"
    r"|No address associated with hostname|NameResolutionError|Could not resolve host"
    r"|getaddrinfo failed|\[Errno -[23]\]|\[Errno 101\]|Failed to establish a new connection"
)
_READ_ONLY = re.compile(r"Read-only file system")
_NO_SPACE = re.compile(r"No space left on device")
_FILE_TOO_LARGE = re.compile(r"File too large|\[Errno 27\]")


def explain(
    result: ExecutionResult,
    settings: SandboxSettings,
    *,
    workdir: str,
    oom_killed: bool = False,
    sigkill_means_memory: bool = True,
    workspace_full: bool = False,
) -> None:
    """Name the limit a failed block ran into and say, in plain words, what to do about it.

    Order matters: a timeout or an out-of-memory kill is known for sure; the rest is read
    from the error text, which a fork bomb or a blocked download leaves behind.
    """
    if result.timed_out:
        result.limit_hit = "timeout"
        result.notes.append("stopped at the run's time limit; every process it started was killed")
        return
    if workspace_full:  # said even when the code caught the error and exited 0
        result.limit_hit = "workspace quota"
        result.notes.append(
            f"the workspace is full: it holds at most {settings.workspace_quota} of new files "
            "(sandbox.workspace_quota), and a write past that fails with 'No space left on "
            "device'; delete files that are no longer needed, or write less"
        )
    if result.exit_code == 0:
        return
    text = (result.stderr[-_SCAN_LIMIT:] + "\n" + result.stdout[-_SCAN_LIMIT:]).strip()
    if result.limit_hit:
        pass
    elif oom_killed or (result.exit_code == 137 and sigkill_means_memory):
        result.limit_hit = "memory"
        result.notes.append(
            f"killed for using more than {settings.memory} of memory (the sandbox's memory "
            "limit); process the data in chunks or use less of it at once"
        )
    elif _MEMORY.search(text):
        result.limit_hit = "memory"
        result.notes.append(
            f"ran out of memory (the sandbox's limit is {settings.memory}); process the data "
            "in chunks or use less of it at once"
        )
    elif _PIDS.search(text):
        result.limit_hit = "pids"
        result.notes.append(
            f"could not start another process or thread: the sandbox allows {settings.pids} at once"
        )
    elif not settings.network and _NETWORK.search(text):
        result.limit_hit = "network"
        result.notes.append(
            "the sandbox has no network: code cannot download or call anything online; "
            "use the files in the workspace (the WebSurfer can fetch pages)"
        )
    code = result.exit_code or 0
    if not result.limit_hit and 128 < code < 128 + 65:
        result.notes.append(f"the process was killed by signal {_signal_name(code - 128)}")
    missing = _NO_MODULE.search(text)
    if missing:
        where = "" if settings.network else " and there is no network to install it"
        result.notes.append(
            f"package {missing.group(1)} is not installed in the sandbox{where}; use the "
            "installed ones (numpy, pandas, scipy, matplotlib, pillow, openpyxl, requests, "
            "markitdown)"
        )
    if _READ_ONLY.search(text):
        result.notes.append(f"only the workspace ({workdir}) and /tmp are writable")
    if _FILE_TOO_LARGE.search(text) or code == 128 + signal.SIGXFSZ:
        result.limit_hit = result.limit_hit or "workspace quota"
        result.notes.append(
            f"a file grew past {settings.workspace_quota}, the most one file may hold "
            "(sandbox.workspace_quota); write less"
        )
    if _NO_SPACE.search(text) and not workspace_full:
        result.notes.append(
            f"a disk filled up (/tmp holds {settings.tmp_size}, the workspace "
            f"{settings.workspace_quota} of new files)"
        )


def _signal_name(number: int) -> str:
    try:
        return f"{number} ({signal.Signals(number).name})"
    except ValueError:
        return str(number)


def add_truncation_notes(result: ExecutionResult, out: OutputBuffer, err: OutputBuffer) -> None:
    for name, buf in (("stdout", out), ("stderr", err)):
        if buf.cut:
            result.truncated = True
            result.notes.append(
                f"{name} was {buf.total:,} bytes; {buf.cut:,} bytes in the middle were cut "
                "(the start and the end are kept)"
            )


# ---------------------------------------------------------------------------- display


def format_result(
    result: ExecutionResult, workspace: Path | None = None, *, timing: bool = True
) -> str:
    """The outcome as a model or a person reads it: status, output, files, limits, notes.

    `timing=False` leaves out how long the code took: what a model is shown must be the same
    each time the same code runs, or a recorded run cannot be replayed from the cache (the
    time goes in the trace event instead)."""
    took = f" after {result.duration_s:.1f} s" if timing else ""
    if result.timed_out:
        status = f"killed at the time limit{took}"
    elif result.exit_code is None:
        status = "killed"
    else:
        status = f"exit code {result.exit_code}" + (
            f" ({result.duration_s:.2f} s)" if timing else ""
        )
    parts = [status]
    if result.limit_hit:
        parts.append(f"limit hit: {result.limit_hit}")
    for name, text in (("stdout", result.stdout), ("stderr", result.stderr)):
        if text.strip():
            parts.append(f"--- {name} ---\n{text.rstrip()}")
    if not result.stdout.strip() and not result.stderr.strip():
        parts.append("(no output)")
    if result.files:
        shown = [_relative(f, workspace) for f in result.files[:50]]
        more = f" and {len(result.files) - 50} more" if len(result.files) > 50 else ""
        parts.append("files created or changed in the workspace: " + ", ".join(shown) + more)
    parts.extend(f"note: {note}" for note in result.notes)
    return "\n".join(parts)


def _relative(path: Path, workspace: Path | None) -> str:
    if workspace is not None:
        try:
            return str(path.relative_to(workspace))
        except ValueError:
            pass
    return str(path)


def describe_blocks(blocks: Sequence[CodeBlock]) -> str:
    """A one-line summary for the trace: languages and sizes, not the code itself."""
    return ", ".join(f"{b.language} ({len(b.code.splitlines())} lines)" for b in blocks)
