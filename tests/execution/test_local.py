"""The opt-in LocalExecutor: no containment, but the time limit, the group kill, the
workspace diff and a clean environment still hold."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import pytest

from magentic.execution import CodeBlock, SandboxSettings, make_executor

from .conftest import leftovers, require_quota


async def test_local_runs_in_the_workspace_and_warns(
    workspace: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-not-leak")
    executor = make_executor("local", workspace, SandboxSettings())
    with caplog.at_level(logging.WARNING):
        await executor.start()
    try:
        assert any("LOCAL EXECUTION" in r.message for r in caplog.records)
        code = (
            "import os\nopen('made.txt', 'w').write('ok')\nprint(os.environ.get('OPENAI_API_KEY'))"
        )
        result = await executor.run([CodeBlock("python", code)])
        assert result.exit_code == 0, result
        assert result.stdout.strip() == "None"
        assert result.files == [workspace / "made.txt"]
    finally:
        await executor.close()


async def test_local_timeout_kills_the_process_group(workspace: Path) -> None:
    executor = make_executor("local", workspace, SandboxSettings())
    await executor.start()
    token = f"tok-{uuid.uuid4().hex}"
    code = f"sleep 300 {token} &\nsleep 300 {token}\n".replace(
        f"sleep 300 {token}", f"python3 -c 'import time; time.sleep(300)' {token}"
    )
    try:
        result = await executor.run([CodeBlock("sh", code)], timeout=1.5)
        assert result.timed_out and result.limit_hit == "timeout"
        assert await leftovers(executor, token) == []
    finally:
        await executor.close()


async def test_local_workspace_has_the_quota_too(workspace: Path) -> None:
    require_quota()
    executor = make_executor("local", workspace, SandboxSettings(workspace_quota="32m"))
    await executor.start()
    try:
        result = await executor.run([CodeBlock("sh", "fallocate -l 20G big.bin")])
        assert result.exit_code != 0
        assert "No space left on device" in result.stderr
        assert result.limit_hit == "workspace quota", result
    finally:
        await executor.close()
