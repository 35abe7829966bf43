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

from magentic.execution import quota
from magentic.execution.base import CodeBlock, ExecutionResult
from magentic.execution.common import (
    BlockRun,
    OutputBuffer,
    add_truncation_notes,
    block_suffix,
    explain,
    run_blocks,
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
        self._quota = quota.WorkspaceQuota(self.workspace, self.settings.quota_bytes)
        self._notes: list[str] = []  # said once, with the next result

    async def start(self) -> None:
        log.warning(WARNING)
        await asyncio.to_thread(self.workspace.mkdir, parents=True, exist_ok=True)
        # The quota caps the workspace only: this executor's code can write anywhere.
        await self._quota.start_with(self._find_python, self._notes)
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
        scratch = self._scratch
        assert scratch is not None

        def script_path(block: CodeBlock) -> str:
            self._seq += 1
            return os.path.join(scratch, f"block{self._seq}{block_suffix(block)}")

        async def run_one(
            run: BlockRun, out: OutputBuffer, err: OutputBuffer, result: ExecutionResult
        ) -> tuple[int | None, bool]:
            argv = [self._python, *run.argv[1:]] if run.argv[0] == "python3" else run.argv
            await asyncio.to_thread(Path(run.script).write_text, run.block.code, encoding="utf-8")
            outcome = await run_process(
                argv,
                cwd=self.workdir,
                env=self._env(),
                timeout=max(0.0, run.deadline - time.monotonic()),
                out=out,
                err=err,
            )
            return outcome.returncode, outcome.timed_out

        result, out, err = await run_blocks(
            blocks,
            timeout=timeout,
            workspace=self.workspace,
            output_limit=self.settings.output_limit,
            script_path=script_path,
            run_one=run_one,
        )
        explain(
            result,
            self.settings,
            workdir=self.workdir,
            sigkill_means_memory=False,
            workspace_full=await self._quota.is_full(),
        )
        add_truncation_notes(result, out, err)
        result.notes.extend(self._notes)
        self._notes.clear()
        return result

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not _SECRET.search(k)}
        env.update(PYTHONUNBUFFERED="1", MPLBACKEND="Agg")
        return env

    async def close(self) -> None:
        if self._scratch:
            await asyncio.to_thread(shutil.rmtree, self._scratch, True)
            self._scratch = None
        await self._quota.release()

    async def _find_python(self) -> None:
        self._python = await asyncio.to_thread(resolve_python, self.settings.python or "python3")
