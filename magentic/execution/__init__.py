"""Where code runs: one Executor protocol; Docker (default), bubblewrap, local (opt-in).

    executor = make_executor("docker", workspace, SandboxSettings(timeout=60))
    await executor.start()          # optional: run() starts it on first use
    result = await executor.run(code_blocks_from_markdown(reply_text))
    print(format_result(result, workspace))
    await executor.close()          # removes the container

Importing this package starts nothing; the executors import the Docker SDK only when used.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from magentic.errors import ConfigError
from magentic.execution.settings import SandboxSettings
from magentic.lazy import lazy_exports

if TYPE_CHECKING:
    from magentic.execution.base import Executor

ExecutorKind = Literal["docker", "bwrap", "local"]
KINDS: tuple[ExecutorKind, ...] = ("docker", "bwrap", "local")

# Imported on first use, so reading a config (which needs only SandboxSettings) stays light.
_EXPORTS = {
    "CodeBlock": "magentic.execution.base",
    "ExecutionResult": "magentic.execution.base",
    "Executor": "magentic.execution.base",
    "code_blocks_from_markdown": "magentic.execution.blocks",
    "normalize_language": "magentic.execution.blocks",
    "format_result": "magentic.execution.common",
}

__all__ = [
    "KINDS",
    "CodeBlock",
    "ExecutionResult",
    "Executor",
    "ExecutorKind",
    "SandboxSettings",
    "code_blocks_from_markdown",
    "format_result",
    "make_executor",
    "normalize_language",
]


__getattr__ = lazy_exports(_EXPORTS)


def make_executor(
    kind: str, workspace: Path, settings: SandboxSettings | None = None, *, run_id: str = ""
) -> Executor:
    """The executor of that kind for one run's workspace (not started yet)."""
    settings = settings or SandboxSettings()
    if kind == "docker":
        from magentic.execution.docker_executor import DockerExecutor

        return DockerExecutor(workspace, settings, run_id=run_id)
    if kind == "bwrap":
        from magentic.execution.bwrap_executor import BubblewrapExecutor

        return BubblewrapExecutor(workspace, settings)
    if kind == "local":
        from magentic.execution.local_executor import LocalExecutor

        return LocalExecutor(workspace, settings)
    raise ConfigError(f"unknown sandbox {kind!r}: choose one of {', '.join(KINDS)}")
