"""The Executor protocol: run code blocks in a workspace, with a time limit, and report.

An executor owns one sandbox for one run (a container, or bubblewrap invocations). The
workspace folder is the only place files come back from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from magentic.errors import SandboxError

# A result's limit_hit when the sandbox's engine went away under the block.
ENGINE_LOST = "sandbox unavailable"


class SandboxUnavailable(SandboxError):
    """The sandbox's engine is gone (the Docker engine stopped): no code can run until it
    is back. Raised by run() on the steps after the loss, which the result reported."""


@dataclass(frozen=True)
class CodeBlock:
    language: str  # "python" or "sh" (also "bash", "shell")
    code: str


@dataclass
class ExecutionResult:
    exit_code: int | None  # None when the block was killed (timeout, cancel)
    stdout: str
    stderr: str
    timed_out: bool = False
    truncated: bool = False
    # What ended or limited the run, if anything: "timeout", "memory", "pids", "network"...
    limit_hit: str | None = None
    files: list[Path] = field(default_factory=list)  # created or changed in the workspace
    duration_s: float = 0.0
    # Plain-language explanations for the model: what was cut, which limit ended the block,
    # which package is missing. Kept apart from stderr so the program's own output stays exact.
    notes: list[str] = field(default_factory=list)


class Executor(Protocol):
    name: str
    workspace: Path

    async def start(self) -> None: ...

    async def run(
        self, blocks: Sequence[CodeBlock], timeout: float | None = None
    ) -> ExecutionResult: ...

    async def close(self) -> None: ...
