"""External tools run from the agent's own process (ffmpeg cutting audio, grabbing a frame;
tesseract on a zoomed crop), each a child process with a memory cap (prlimit, where present)
and a time limit, killed when either is passed or when the caller is cancelled."""

from __future__ import annotations

import asyncio
import contextlib
import shutil

from magentic.agents.media.proc import ToolFailed, which

MEMORY_BYTES = 1024 * 1024 * 1024


async def run_tool(args: list[str], *, timeout_s: float, input_bytes: bytes | None = None) -> bytes:
    """The tool's stdout; raises ToolMissing, or ToolFailed with its reason."""
    exe = which(args[0])
    prefix = []
    prlimit = shutil.which("prlimit")
    if prlimit:
        prefix = [prlimit, f"--as={MEMORY_BYTES}", "--"]
    proc = await asyncio.create_subprocess_exec(
        *prefix,
        exe,
        *args[1:],
        stdin=asyncio.subprocess.PIPE if input_bytes is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin", "OMP_THREAD_LIMIT": "1"},
        start_new_session=True,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(input_bytes), timeout=timeout_s)
    except asyncio.TimeoutError:
        raise ToolFailed(f"{args[0]} took over {timeout_s:g} s and was stopped") from None
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(ProcessLookupError):
                await proc.wait()
    if proc.returncode != 0:
        lines = err.decode("utf-8", "replace").strip().splitlines()
        raise ToolFailed(
            f"{args[0]} failed: {lines[-1][:300] if lines else f'exit code {proc.returncode}'}"
        )
    return out
