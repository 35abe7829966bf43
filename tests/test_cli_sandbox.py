"""The sandbox as a person meets it on the command line (issue 19, point 14): `magentic
sandbox run` leaves no temporary workspace behind, and a run whose code runs on the host
(`--sandbox local`) says so on stderr every time, `--yes` and `--quiet` included."""

from __future__ import annotations

import json
from pathlib import Path

from magentic.execution.local_executor import WARNING
from magentic.testing import ScriptedLLMServer
from magentic.testing.demo import DEMO_TASK, demo_script
from tests.test_cli import magentic


def test_sandbox_run_removes_its_temporary_workspace(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    script = tmp_path / "job.py"
    script.write_text("open('made.txt', 'w').write('x')\nprint('wrote it')\n")
    env = {"TMPDIR": str(tmp)}
    done = magentic("sandbox", "run", str(script), "--sandbox", "local", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "wrote it" in done.stdout and "made.txt" in done.stdout
    assert list(tmp.glob("magentic-sandbox-run-*")) == []
    kept = magentic(
        "sandbox", "run", str(script), "--sandbox", "local", "--keep", cwd=tmp_path, env=env
    )
    assert kept.returncode == 0, kept.stderr
    [folder] = tmp.glob("magentic-sandbox-run-*")
    assert f"workspace kept: {folder}" in kept.stdout and (folder / "made.txt").is_file()


def test_a_local_sandbox_run_says_so_on_stderr_every_time(tmp_path: Path) -> None:
    with ScriptedLLMServer(demo_script) as server:
        for extra in (["--yes", "--quiet"], ["--yes"], ["--yes", "--json"]):
            done = magentic(
                "run",
                DEMO_TASK,
                "--base-url",
                server.base_url,
                "--agents",
                "Coder,ComputerTerminal",
                "--sandbox",
                "local",
                "--trace-dir",
                str(tmp_path / "runs"),
                *extra,
                cwd=tmp_path,
            )
            assert done.returncode == 0, done.stderr
            assert done.stderr.count(WARNING) == 1, (extra, done.stderr)
            assert WARNING not in done.stdout  # stdout stays the answer (or the JSON)
    out = json.loads(done.stdout)
    kinds = [json.loads(line)["kind"] for line in Path(out["trace_path"]).read_text().splitlines()]
    assert kinds[0] == "run_started" and kinds[1] == "notice"  # and the trace records it
