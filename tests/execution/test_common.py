"""The pieces every executor shares: code blocks out of markdown, bounded output, the
workspace diff, sizes, and the words a failure is explained with."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from magentic.errors import ConfigError
from magentic.execution import (
    CodeBlock,
    ExecutionResult,
    SandboxSettings,
    code_blocks_from_markdown,
    format_result,
    make_executor,
)
from magentic.execution.common import OutputBuffer, changed_files, explain, snapshot
from magentic.execution.settings import parse_size


def test_fenced_blocks_with_a_language_tag_are_taken_in_order() -> None:
    text = (
        "Here is the plan.\n"
        "```python\nimport pandas as pd\nprint(1)\n```\n"
        "Sample output (not code):\n"
        "```\n1\n```\n"
        "~~~Bash title=run\nls -l\n~~~\n"
        "````py\nprint('```')\n````\n"
    )
    blocks = code_blocks_from_markdown(text)
    assert blocks == [
        CodeBlock("python", "import pandas as pd\nprint(1)\n"),
        CodeBlock("bash", "ls -l\n"),
        CodeBlock("py", "print('```')\n"),
    ]


def test_no_fences_means_no_blocks() -> None:
    assert code_blocks_from_markdown("just words, and `inline code`") == []


def test_unclosed_fence_runs_to_the_end() -> None:
    assert code_blocks_from_markdown("```sh\necho hi\n") == [CodeBlock("sh", "echo hi\n")]


def test_output_buffer_keeps_head_and_tail_within_its_limit() -> None:
    buf = OutputBuffer(100)
    for i in range(1000):
        buf.feed(f"{i:05d}\n".encode())
    text = buf.text()
    assert buf.total == 6000
    assert buf.cut == 5900
    assert text.startswith("00000\n")
    assert text.endswith("00999\n")
    assert "5,900 bytes cut" in text


def test_output_buffer_under_the_limit_is_exact() -> None:
    buf = OutputBuffer(100)
    buf.feed(b"hello ")
    buf.feed(b"world")
    assert (buf.text(), buf.cut) == ("hello world", 0)


def test_workspace_diff_finds_new_and_changed_files(tmp_path: Path) -> None:
    (tmp_path / "same.txt").write_text("x")
    (tmp_path / "edit.txt").write_text("old")
    before = snapshot(tmp_path)
    time.sleep(0.01)
    (tmp_path / "edit.txt").write_text("newer")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "new.csv").write_text("a,b")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "x.pyc").write_bytes(b"\0")
    after = snapshot(tmp_path)
    assert changed_files(before, after) == [tmp_path / "edit.txt", tmp_path / "sub" / "new.csv"]


@pytest.mark.parametrize(
    ("text", "size"), [("512m", 512 * 1024**2), ("2g", 2 * 1024**3), ("1.5GiB", 3 * 1024**3 // 2)]
)
def test_sizes_parse_like_docker(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_bad_settings_are_rejected() -> None:
    with pytest.raises(ValidationError):
        SandboxSettings(memory="lots")
    with pytest.raises(ValidationError):
        SandboxSettings(timeout=0)


def test_unknown_sandbox_kind_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="docker, bwrap, local"):
        make_executor("vm", tmp_path)


def _failed(stderr: str, exit_code: int = 1) -> ExecutionResult:
    return ExecutionResult(exit_code=exit_code, stdout="", stderr=stderr)


@pytest.mark.parametrize(
    ("stderr", "limit"),
    [
        ("BlockingIOError: [Errno 11] Resource temporarily unavailable", "pids"),
        ("bash: fork: retry: Resource temporarily unavailable", "pids"),
        ("MemoryError", "memory"),
        ("numpy.core._exceptions._ArrayMemoryError: Unable to allocate 8.00 GiB", "memory"),
        ("socket.gaierror: [Errno -3] Temporary failure in name resolution", "network"),
        ("curl: (6) Could not resolve host: example.org", "network"),
        ("ValueError: bad input", None),
    ],
)
def test_failures_are_read_for_the_limit_they_hit(stderr: str, limit: str | None) -> None:
    result = _failed(stderr)
    explain(result, SandboxSettings(), workdir="/workspace", sigkill_means_memory=False)
    assert result.limit_hit == limit
    assert bool(result.notes) == (limit is not None)


def test_network_errors_are_not_blamed_on_the_sandbox_when_network_is_on() -> None:
    result = _failed("Temporary failure in name resolution")
    explain(result, SandboxSettings(network=True), workdir="/workspace")
    assert result.limit_hit is None


def test_sigkill_reads_as_memory_only_when_asked() -> None:
    result = _failed("", exit_code=137)
    explain(result, SandboxSettings(memory="1g"), workdir="/workspace", oom_killed=True)
    assert result.limit_hit == "memory"
    assert "1g" in result.notes[0]


def test_format_result_says_status_output_files_and_notes(tmp_path: Path) -> None:
    result = ExecutionResult(
        exit_code=1,
        stdout="partial\n",
        stderr="Traceback ...\nModuleNotFoundError: No module named 'sklearn'\n",
        files=[tmp_path / "out" / "a.csv"],
        duration_s=0.5,
    )
    explain(result, SandboxSettings(), workdir="/workspace")
    text = format_result(result, tmp_path)
    assert text.startswith("exit code 1")
    assert "--- stdout ---\npartial" in text
    assert "files created or changed in the workspace: out/a.csv" in text
    assert "note: package sklearn is not installed in the sandbox" in text


def test_snapshot_ignores_symlinks_out_of_the_workspace(tmp_path: Path) -> None:
    os.symlink("/etc", tmp_path / "etc-link")
    assert snapshot(tmp_path) == {}


def test_a_signal_death_that_is_no_limit_is_named() -> None:
    result = _failed("", exit_code=137)
    explain(result, SandboxSettings(), workdir="/workspace", sigkill_means_memory=False)
    assert result.limit_hit is None
    assert result.notes == ["the process was killed by signal 9 (SIGKILL)"]
