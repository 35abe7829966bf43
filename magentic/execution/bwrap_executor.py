"""BubblewrapExecutor: code in fresh Linux namespaces, for machines with no Docker engine.

Each block gets its own sandbox (about 0.1 s): of the host only the runtime and the
interpreter's packages, read-only (see bwrap_mounts: no home, no other projects or runs),
a private /tmp and /run, the workspace writable at /workspace, no network (every namespace
is new), and rlimits set inside the sandbox, after its user namespace exists, so the
process count is the sandbox's own and not the user's across the machine. Code runs with
the host's Python.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import shutil
import stat
import time
from collections.abc import Sequence
from pathlib import Path

from magentic.errors import SandboxError
from magentic.execution import quota
from magentic.execution.base import CodeBlock, ExecutionResult
from magentic.execution.bwrap_mounts import runtime_mounts, user_db
from magentic.execution.common import (
    BlockRun,
    OutputBuffer,
    add_truncation_notes,
    block_suffix,
    explain,
    run_blocks,
    sandbox_env,
    sandbox_ids,
)
from magentic.execution.procs import reachable, resolve_python, run_process, world_executable
from magentic.execution.settings import SandboxSettings

log = logging.getLogger(__name__)
WORKDIR = "/workspace"
_SYSTEM_PYTHON = "/usr/bin/python3"
_BLOCK_DIR = "/tmp/.magentic"


class BubblewrapExecutor:
    name = "bwrap"
    workdir = WORKDIR

    def __init__(self, workspace: Path, settings: SandboxSettings | None = None) -> None:
        self.workspace = workspace.resolve()
        self.settings = settings or SandboxSettings()
        self._bwrap = ""
        self._root_binds: list[str] = []
        self._user_db: tuple[bytes, bytes] = (b"", b"")
        self._prlimit: str | None = None
        self._python = ""
        self._user: tuple[int, int] | None = None
        self._lock = asyncio.Lock()
        self._seq = 0
        self._quota = quota.WorkspaceQuota(self.workspace, self.settings.quota_bytes)
        self._notes: list[str] = []  # said once, with the next result

    async def start(self) -> None:
        bwrap = shutil.which("bwrap")
        if not bwrap:
            raise SandboxError(
                "bubblewrap is not installed (scripts/install --bwrap, or apt-get install "
                "bubblewrap)"
            )
        self._prlimit = shutil.which("prlimit")
        await asyncio.to_thread(self.workspace.mkdir, parents=True, exist_ok=True)
        await self._quota.start_with(self._prepare, self._notes)
        self._bwrap = bwrap  # started: run() no longer calls start()

    async def _prepare(self) -> None:
        """The interpreter, the user code runs as, and what of the host it sees."""
        self._python, (uid, gid) = await asyncio.gather(
            asyncio.to_thread(self._pick_python), asyncio.to_thread(sandbox_ids, self.workspace)
        )
        mounts = await asyncio.to_thread(runtime_mounts, self._python)
        self._root_binds = list(mounts.args)
        self._user_db = user_db(uid, gid)
        # Root hands the code to the workspace's unprivileged owner; bwrap then makes an
        # unprivileged user namespace, and RLIMIT_NPROC is enforced (root ignores it).
        self._user = (uid, gid) if os.geteuid() == 0 else None
        if self._user and not reachable(self.workspace.parent):
            await asyncio.to_thread(_let_pass, self.workspace.parent)
        if self._user and not reachable(self.workspace.parent):
            raise SandboxError(
                f"the sandbox user (uid {uid}) cannot reach {self.workspace}: a folder on the "
                "way is closed to others (mode 0700?); put the workspace where others may "
                "enter, or run magentic as a normal user"
            )

    def _pick_python(self) -> str:
        python = resolve_python(self.settings.python or "python3")
        if os.geteuid() == 0 and not world_executable(python):
            # root's own Python (e.g. under /root) is out of the sandbox user's reach
            if world_executable(_SYSTEM_PYTHON):
                return _SYSTEM_PYTHON
            raise SandboxError(
                f"{python} cannot be run by the sandbox user; set sandbox.python to an "
                "interpreter outside root's home"
            )
        return python

    async def run(
        self, blocks: Sequence[CodeBlock], timeout: float | None = None
    ) -> ExecutionResult:
        if not self._bwrap:
            await self.start()
        async with self._lock:
            return await self._run(blocks, timeout or self.settings.timeout)

    async def _run(self, blocks: Sequence[CodeBlock], timeout: float) -> ExecutionResult:
        def script_path(block: CodeBlock) -> str:
            self._seq += 1
            return f"{_BLOCK_DIR}/block{self._seq}{block_suffix(block)}"

        async def run_one(
            run: BlockRun, out: OutputBuffer, err: OutputBuffer, result: ExecutionResult
        ) -> tuple[int | None, bool]:
            fds = [_memfd(run.block.code.encode()), *(_memfd(d) for d in self._user_db)]
            try:
                outcome = await run_process(
                    self._command(run.argv, fds, run.script, timeout),
                    cwd="/",
                    env=sandbox_env(home="/tmp", path=self._path()),
                    timeout=max(0.0, run.deadline - time.monotonic()),
                    out=out,
                    err=err,
                    user=self._user,
                    pass_fds=fds,
                )
            finally:
                for fd in fds:
                    os.close(fd)
            return outcome.returncode, outcome.timed_out

        result, out, err = await run_blocks(
            blocks,
            timeout=timeout,
            workspace=self.workspace,
            output_limit=self.settings.output_limit,
            script_path=script_path,
            run_one=run_one,
        )
        # bwrap reports a SIGKILLed child as 137; here nothing but us sends one, and the
        # memory limit is an rlimit (an allocation error), so 137 is not read as memory.
        explain(
            result,
            self.settings,
            workdir=WORKDIR,
            sigkill_means_memory=False,
            workspace_full=await self._quota.is_full(),
        )
        add_truncation_notes(result, out, err)
        result.notes.extend(self._notes)
        self._notes.clear()
        return result

    def _path(self) -> str:
        folder = os.path.dirname(self._python)
        return f"{folder}:/usr/local/bin:/usr/bin:/bin"

    def _command(self, argv: list[str], fds: list[int], inner: str, timeout: float) -> list[str]:
        """The bwrap command line; `fds` hold the block, /etc/passwd and /etc/group."""
        s = self.settings
        if argv[0] == "python3":
            argv = [self._python, *argv[1:]]
        cpu_seconds = math.ceil(timeout * max(1.0, s.cpus)) + 1
        # With no quota filesystem (not root), at least no one file may pass the quota.
        fsize = s.quota_bytes if not self._quota.enforced and s.quota_bytes > 0 else "unlimited"
        if self._prlimit:
            limited = [
                self._prlimit,
                f"--as={s.memory_bytes}",
                f"--nproc={s.pids}",
                f"--cpu={cpu_seconds}",
                f"--fsize={fsize}",
                "--core=0",
                "--",
            ]
        else:  # util-linux missing: set the same limits from Python
            limited = [self._python, "-c", _SETRLIMIT, str(s.memory_bytes), str(s.pids)]
            limited += [str(cpu_seconds), str(fsize)]
        # Order matters: each mount lands on what the previous ones made.
        return [
            self._bwrap,
            *self._root_binds,
            "--dev", "/dev",
            "--proc", "/proc",
            "--size", str(s.tmp_bytes), "--tmpfs", "/tmp",
            "--tmpfs", "/run",
            "--bind", str(self.workspace), WORKDIR,
            "--dir", _BLOCK_DIR,
            "--perms", "0444", "--ro-bind-data", str(fds[0]), inner,
            "--perms", "0444", "--ro-bind-data", str(fds[1]), "/etc/passwd",
            "--perms", "0444", "--ro-bind-data", str(fds[2]), "/etc/group",
            "--remount-ro", "/",  # bwrap's own root is a tmpfs: writable unless told
            "--chdir", WORKDIR,
            "--unshare-all",
            "--hostname", "sandbox",
            "--die-with-parent",
            "--new-session",
            "--cap-drop", "ALL",
            "--",
            *limited,
            *argv,
        ]  # fmt: skip

    async def close(self) -> None:
        """Give the workspace its plain folder back (each block's sandbox is gone already)."""
        self._bwrap = ""
        await self._quota.release()


_SETRLIMIT = (
    "import os, resource, sys\n"
    "mem, nproc, cpu = (int(v) for v in sys.argv[1:4])\n"
    "fsize = resource.RLIM_INFINITY if sys.argv[4] == 'unlimited' else int(sys.argv[4])\n"
    "resource.setrlimit(resource.RLIMIT_AS, (mem, mem))\n"
    "resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))\n"
    "resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))\n"
    "resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))\n"
    "os.execvp(sys.argv[5], sys.argv[5:])\n"
)


def _let_pass(run_dir: Path) -> None:
    """A private run folder (0700, ours) becomes 0711 so the sandbox user, which bwrap runs
    as, can pass through it to the workspace: it may not list it, and every file in it is
    owner-only. Any other closed folder on the way is left for the error to name."""
    try:
        st = os.stat(run_dir)
        private = st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) == 0o700
        if private and reachable(run_dir.parent):
            os.chmod(run_dir, 0o711)
    except OSError:
        return


def _memfd(data: bytes) -> int:
    """An anonymous file holding `data`, read from its start by bwrap."""
    fd = os.memfd_create("magentic-data")
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
