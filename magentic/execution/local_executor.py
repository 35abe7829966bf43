"""LocalExecutor: code runs on the host as you, in the workspace. Opt-in only.

Nothing contains it: the code can read your files, use the network and start processes
that outlive it. It keeps the time limit and kills the block's process group, and it
hides the host's secrets from the environment, nothing more. It exists for machines with
neither Docker nor bubblewrap, and for debugging the sandboxed path.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from magentic.execution.base import CodeBlock, ExecutionResult
from magentic.execution.common import (
    OutputBuffer,
    add_truncation_notes,
    block_argv,
    block_suffix,
    changed_files,
    explain,
    snapshot,
    unsupported,
)
from magentic.execution.procs import resolve_python, run_process
from magentic.execution.settings import SandboxSettings

log = logging.getLogger(__name__)
WARNING = (
    "LOCAL EXECUTION: code written by the model runs on this machine as you, with no "
    "sandbox (no file, network or process isolation). Use --sandbox docker or bwrap "
    "unless you trust every task."
)
_SECRET = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH", re.IGNORECASE)


class LocalExecutor:
    name = "local"

    def __init__(self, workspace: Path, settings: SandboxSettings | None = None) -> None:
        self.workspace = workspace.resolve()
        # The host's network is there whatever the settings say; say so in the diagnosis.
        self.settings = (settings or SandboxSettings()).model_copy(update={"network": True})
        self.workdir = str(self.workspace)
        self._python = ""
        self._scratch: str | None = None
        self._lock = asyncio.Lock()
        self._seq = 0

    async def start(self) -> None:
        log.warning(WARNING)
        await asyncio.to_thread(self.workspace.mkdir, parents=True, exist_ok=True)
        self._python = await asyncio.to_thread(resolve_python, self.settings.python or "python3")
        # Block files live outside the workspace so they never show up as "files created".
        self._scratch = tempfile.mkdtemp(prefix="magentic-local-")

    async def run(
        self, blocks: Sequence[CodeBlock], timeout: float | None = None
    ) -> ExecutionResult:
        if self._scratch is None:
            await self.start()
        async with self._lock:
            return await self._run(blocks, timeout or self.settings.timeout)

    async def _run(self, blocks: Sequence[CodeBlock], timeout: float) -> ExecutionResult:
        assert self._scratch is not None
        started = time.monotonic()
        deadline = started + timeout
        out = OutputBuffer(self.settings.output_limit)
        err = OutputBuffer(self.settings.output_limit)
        before = await asyncio.to_thread(snapshot, self.workspace)
        result = ExecutionResult(exit_code=0, stdout="", stderr="")
        for block in blocks:
            self._seq += 1
            path = os.path.join(self._scratch, f"block{self._seq}{block_suffix(block)}")
            argv = block_argv(block, path)
            if argv is None:
                result.exit_code = 1
                result.notes.append(unsupported(block))
                break
            if argv[0] == "python3":
                argv[0] = self._python
            await asyncio.to_thread(Path(path).write_text, block.code, encoding="utf-8")
            outcome = await run_process(
                argv,
                cwd=self.workdir,
                env=self._env(),
                timeout=max(0.0, deadline - time.monotonic()),
                out=out,
                err=err,
            )
            result.exit_code, result.timed_out = outcome.returncode, outcome.timed_out
            if outcome.timed_out or outcome.returncode != 0:
                break
        result.duration_s = time.monotonic() - started
        result.stdout, result.stderr = out.text(), err.text()
        result.files = changed_files(before, await asyncio.to_thread(snapshot, self.workspace))
        explain(result, self.settings, workdir=self.workdir, sigkill_means_memory=False)
        add_truncation_notes(result, out, err)
        return result

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not _SECRET.search(k)}
        env.update(PYTHONUNBUFFERED="1", MPLBACKEND="Agg")
        return env

    async def close(self) -> None:
        if self._scratch:
            await asyncio.to_thread(shutil.rmtree, self._scratch, True)
            self._scratch = None
