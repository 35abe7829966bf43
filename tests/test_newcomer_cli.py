"""A newcomer's small stumbles at the command line: each is one clear line and exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from magentic.testing import ScriptedLLMServer
from magentic.testing.demo import DEMO_TASK, demo_script


def magentic(*args: str, cwd: Path, drop: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "MAGENTIC_")) and k not in drop
    }
    return subprocess.run(
        [sys.executable, "-m", "magentic.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=120,
    )


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "internal error" not in lines[0], lines[0]
    return lines[0]


def test_a_missing_api_key_is_exit_2_before_any_run_folder(tmp_path: Path) -> None:
    done = magentic("run", "hello", "--agents", "Coder", cwd=tmp_path)
    assert done.returncode == 2
    assert "OPENAI_API_KEY" in one_line(done)
    assert not (tmp_path / "runs").exists()


def test_trace_commands_on_a_folder_without_a_trace(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    for action in ("show", "html"):
        done = magentic("trace", action, "empty", cwd=tmp_path)
        assert done.returncode == 2
        assert "no trace" in one_line(done)


def test_sandbox_run_on_a_file_that_is_not_code(tmp_path: Path) -> None:
    (tmp_path / "pic.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    done = magentic("sandbox", "run", "pic.png", "--sandbox", "local", cwd=tmp_path)
    assert done.returncode == 2
    assert "pic.png" in one_line(done)


def test_verbose_works_after_the_subcommand_too(tmp_path: Path) -> None:
    outputs = []
    with ScriptedLLMServer(demo_script) as server:
        common = ["--base-url", server.base_url, "--agents", "Coder"]
        for args in (
            ["run", DEMO_TASK, *common],
            ["-v", "run", DEMO_TASK, *common],
            ["run", DEMO_TASK, *common, "-v"],
            ["run", DEMO_TASK, *common, "--verbose"],
        ):
            done = magentic(*args, cwd=tmp_path)
            assert done.returncode == 0, done.stderr
            outputs.append(len(done.stderr.splitlines()))
    plain, before, after, long = outputs
    assert before == after == long > plain


def test_headed_without_a_display_is_caught_at_the_start(tmp_path: Path) -> None:
    with ScriptedLLMServer(demo_script) as server:
        done = magentic(
            "run", "look something up", "--headed", "--base-url", server.base_url,
            cwd=tmp_path, drop=("DISPLAY", "WAYLAND_DISPLAY"),
        )  # fmt: skip
        assert server.requests == []
    assert done.returncode == 2
    assert "xvfb-run" in one_line(done)
    assert not (tmp_path / "runs").exists()
