"""Running an external tool (tesseract, ffmpeg, ffprobe) from the conversion worker.

Each run has a time limit, a single thread, no stdin, and dies with the worker (Linux's
PR_SET_PDEATHSIG), so a killed worker leaves no ffmpeg decoding a two-hour file behind.
The worker's memory limit (RLIMIT_AS) is inherited, so a tool cannot follow a hostile file
past it either.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Sequence


class ToolMissing(Exception):
    """The external tool is not installed; `str()` says which and how to install it."""


class ToolFailed(Exception):
    """The tool ran and failed or overran its time; `str()` is a one-line reason."""


_PACKAGES = {"ffmpeg": "ffmpeg", "ffprobe": "ffmpeg", "tesseract": "tesseract-ocr"}


def which(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        package = _PACKAGES.get(tool, tool)
        raise ToolMissing(
            f"{tool} is not installed here (Debian: apt-get install {package}; or "
            "scripts/install --media)"
        )
    return found


def _die_with_parent() -> None:
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def run(args: Sequence[str], *, timeout_s: float, input_bytes: bytes | None = None) -> bytes:
    """The tool's stdout; raises ToolMissing, or ToolFailed with stderr's last line."""
    exe = which(args[0])
    env = {**os.environ, "OMP_THREAD_LIMIT": "1", "OMP_NUM_THREADS": "1"}
    try:
        done = subprocess.run(
            [exe, *args[1:]],
            input=input_bytes,
            stdin=None if input_bytes is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout_s,
            env=env,
            preexec_fn=_die_with_parent,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ToolFailed(f"{args[0]} took over {timeout_s:g} s and was stopped") from None
    except OSError as exc:
        raise ToolFailed(f"{args[0]} could not run: {exc}") from None
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        reason = lines[-1][:300] if lines else f"exit code {done.returncode}"
        raise ToolFailed(f"{args[0]} failed: {reason}")
    return done.stdout
