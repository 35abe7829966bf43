"""A newcomer's paths: the CLI run from a folder of their own, with relative paths.

Every test here starts the real CLI in a temporary working folder (never the repo's) and
gives it relative paths, as a person following the README would.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from magentic.testing import ChatRequest, Reply, ScriptedLLMServer, roles
from tests.conftest import require

REPO = Path(__file__).resolve().parent.parent

SECRET_LINE = "The zebra count for 2026 is 4417."


def magentic(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MAGENTIC_"))}
    return subprocess.run(
        [sys.executable, "-m", "magentic.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=120,
    )


def _opens_the_attachment(request: ChatRequest) -> Reply:
    """The FileSurfer opens the attached file by the path it was told; the orchestrator
    finishes once the FileSurfer has said what the file holds."""
    if "open_path" in request.tool_names:
        told = re.search(r"Files attached to the task: ([^\n,]+)", request.all_text())
        return Reply.tool_call("open_path", {"path": told.group(1).strip() if told else "?"})
    step = roles.phase(request)
    if step == "facts":
        return roles.facts()
    if step == "plan":
        return roles.plan(("FileSurfer", "read the attached file"))
    if step == "progress":
        if roles.last_from(request, "FileSurfer") is not None:
            return roles.progress(satisfied=True, reason="the FileSurfer read it")
        return roles.progress("FileSurfer", "Open the attached file and say what it says.")
    return Reply.text("FINAL ANSWER: 4417")


def _content_reached_the_model(server: ScriptedLLMServer) -> bool:
    """The file's words (which no script says) came back to the model in a later request."""
    return any(SECRET_LINE in r.all_text() for r in server.requests)


def test_an_attachment_opens_with_the_default_relative_run_folder(tmp_path: Path) -> None:
    here = tmp_path / "me"
    (here / "data").mkdir(parents=True)
    (here / "data" / "notes.txt").write_text(SECRET_LINE + "\n", encoding="utf-8")
    with ScriptedLLMServer(_opens_the_attachment) as server:
        done = magentic(
            "run", "What is the zebra count in these notes?", "--file", "data/notes.txt",
            "--agents", "FileSurfer", "--base-url", server.base_url, "--json",
            cwd=here,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert _content_reached_the_model(server), done.stderr
    out = json.loads(done.stdout)
    trace = Path(out["trace_path"])
    assert trace.is_absolute() and trace.is_relative_to(here / "runs")
    events = [json.loads(line) for line in trace.read_text().splitlines()]
    opened = [e for e in events if e["kind"] == "agent_acted" and e["action"] == "open_path"]
    assert opened and not opened[0].get("error"), opened


def test_a_bench_with_a_relative_out_opens_its_task_files(tmp_path: Path) -> None:
    here = tmp_path / "me"
    suite = here / "suite"
    suite.mkdir(parents=True)
    (suite / "notes.txt").write_text(SECRET_LINE + "\n", encoding="utf-8")
    task = {
        "task_id": "t1",
        "Question": "What is the zebra count in the notes?",
        "Level": 1,
        "Final answer": "4417",
        "file_name": "notes.txt",
    }
    (suite / "metadata.jsonl").write_text(json.dumps(task) + "\n", encoding="utf-8")
    with ScriptedLLMServer(_opens_the_attachment) as server:
        done = magentic(
            "bench", "suite", "--out", "results", "--agents", "FileSurfer",
            "--base-url", server.base_url, "--json",
            cwd=here,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert _content_reached_the_model(server), done.stderr
    assert (here / "results").is_dir()


def test_scripts_run_keeps_the_folder_it_is_started_in(tmp_path: Path) -> None:
    """The README's `scripts/run "..." --file data.xlsx`, from a folder of one's own."""
    venv = Path(sys.prefix)
    require((venv / "bin" / "magentic").exists(), f"the `magentic` command in {venv}")
    here = tmp_path / "me"
    here.mkdir()
    (here / "notes.txt").write_text(SECRET_LINE + "\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MAGENTIC_"))}
    # the install step is the repo's own business (it runs from the repo whatever the folder);
    # here it is skipped so the test does not reinstall the environment it runs in
    env.update(MAGENTIC_VENV=str(venv), MAGENTIC_SKIP_INSTALL="1")
    done = subprocess.run(
        [str(REPO / "scripts" / "run"), "--demo", "--file", "notes.txt", "--agents", "Coder",
         "--json"],
        cwd=here, env=env, capture_output=True, stdin=subprocess.DEVNULL, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    trace = Path(out["trace_path"])
    assert trace.is_relative_to(here / "runs"), trace  # the run folder is where the person is
    started = json.loads(trace.read_text().splitlines()[0])
    assert [a["given"] for a in started["config"]["attachments"]] == ["notes.txt"]
