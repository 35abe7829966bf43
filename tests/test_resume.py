"""`magentic resume RUN_DIR` as a person uses it: a real `magentic run` subprocess killed
with SIGKILL mid-run (or stopped by its budget), then resumed, against a real scripted
endpoint whose recorded requests show which rounds the model was asked about."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from magentic.testing import ChatRequest, Reply, ScriptedLLMServer, roles

NOTES = 5  # the run takes this many rounds of work before the task is done
HOLD_AT = 4  # in the first process's round 4 the Coder's model never answers: killed there


class Notes:
    """The orchestrator asks the Coder for note 1..NOTES, one a round; the final answer is
    the sum of the values the Coder gave, read from the transcript the model is sent."""

    def __init__(self) -> None:
        self.hold = False

    def __call__(self, request: ChatRequest) -> Reply:
        step = roles.phase(request)
        if step == "coder":
            number = coder_note(request)
            reply = Reply.text(f"note {number}: value {number * number}")
            return reply.slow(120) if self.hold and number == HOLD_AT else reply
        if step == "facts":
            return roles.facts(to_derive=["the sum of the notes"])
        if step == "plan":
            return roles.plan(("Coder", "give the notes one by one"))
        done = done_notes(request)
        if step == "progress":
            if done >= NOTES:
                return roles.progress(satisfied=True)
            return roles.progress("Coder", f"Give note {done + 1}.")
        values = [
            int(v) for _, text in roles.said(request) for v in re.findall(r"value (\d+)", text)
        ]
        return Reply.text(f"The notes add up to {sum(values)}.")


def coder_note(request: ChatRequest) -> int:
    return int(re.findall(r"note (\d+)", request.last_user_text())[-1])


def done_notes(request: ChatRequest) -> int:
    return sum(1 for who, _ in roles.said(request) if who == "Coder")


def coder_notes(server: ScriptedLLMServer) -> list[int]:
    return [coder_note(r) for r in server.requests if roles.phase(r) == "coder"]


def progress_rounds(server: ScriptedLLMServer) -> list[int]:
    """The round each progress-ledger request was about (1 + the notes already given)."""
    return [done_notes(r) + 1 for r in server.requests if roles.phase(r) == "progress"]


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MAGENTIC_"))}


def magentic(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "magentic.cli", *args],
        cwd=cwd,
        env=env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def run_args(server: ScriptedLLMServer, trace_dir: Path, *extra: str) -> list[str]:
    return [
        "run",
        "Give the five notes and add them up.",
        "--base-url",
        server.base_url,
        "--agents",
        "Coder",
        "--trace-dir",
        str(trace_dir),
        "--json",
        *extra,
    ]


def kill_in_the_held_round(server: ScriptedLLMServer, args: list[str], cwd: Path) -> None:
    """Start `magentic ARGS`, wait until the Coder's held call of round HOLD_AT reaches the
    server, and SIGKILL the process there."""
    process = subprocess.Popen(
        [sys.executable, "-m", "magentic.cli", *args],
        cwd=cwd,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while HOLD_AT not in coder_notes(server) and time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()[1]
            time.sleep(0.02)  # polling for the held request, not timing anything
        assert HOLD_AT in coder_notes(server), "the run never reached the held round"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
    assert process.returncode == -signal.SIGKILL


def folder_state(folder: Path) -> dict[str, str]:
    """Every file under `folder` by its bytes' hash: to show a folder was not touched."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def trace_events(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "trace.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_same_answer_and_no_round_is_asked_twice(
    tmp_path: Path,
) -> None:
    script = Notes()
    attached = tmp_path / "ledger-notes.csv"
    attached.write_text("note,value\n")
    with ScriptedLLMServer(script) as server:
        whole = magentic(
            *run_args(server, tmp_path / "whole", "--file", str(attached)), cwd=tmp_path
        )
        assert whole.returncode == 0, whole.stderr
        expected = json.loads(whole.stdout)["answer"]
        assert expected == f"The notes add up to {sum(n * n for n in range(1, NOTES + 1))}."

        server.requests.clear()
        script.hold = True
        kill_in_the_held_round(
            server, run_args(server, tmp_path / "runs", "--file", str(attached)), tmp_path
        )
        run_dir = next((tmp_path / "runs").iterdir())
        before = len(server.requests)
        saved = json.loads((run_dir / "checkpoint.json").read_text())
        assert (saved["status"], saved["rounds"]) == ("running", HOLD_AT - 1)

        script.hold = False
        resumed = magentic(
            "resume", str(run_dir), "--base-url", server.base_url, "--json", cwd=tmp_path
        )
    assert resumed.returncode == 0, resumed.stderr
    assert "Traceback" not in resumed.stderr
    out = json.loads(resumed.stdout)
    assert out["answer"] == expected and out["status"] == "answered"
    assert out["rounds"] == NOTES + 1  # the rounds of the whole run, the finishing one too

    # The model saw each round once: rounds 1-3 only before the kill; round 4's progress
    # ledger, answered before the kill, came from the run's call journal, not the model. Only
    # the Coder's call the kill cut off (asked, never answered) was asked again.
    asked = progress_rounds(server)
    for number in range(1, NOTES + 2):
        assert asked.count(number) == 1, asked
    coder_asks = [r for r in server.requests[before:] if roles.phase(r) == "coder"]
    assert [coder_note(r) for r in coder_asks] == [4, 5]
    assert not any(roles.phase(r) in ("facts", "plan") for r in server.requests[before:])
    # The same workspace and attachment: the Coder is told of the run's copy of the file.
    assert all("ledger-notes.csv" in r.last_user_text() for r in coder_asks)

    events = trace_events(run_dir)
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    replayed = [e for e in events if e["kind"] == "model_called" and e["replayed"]]
    assert [e["role"] for e in replayed] == ["orchestrator"]
    resumed_at = [e for e in events if e["kind"] == "run_resumed"]
    assert len(resumed_at) == 1 and resumed_at[0]["round"] == HOLD_AT - 1
    assert resumed_at[0]["previous_status"] == "running"
    assert events[-1]["kind"] == "run_finished" and events[-1]["status"] == "answered"
    final = json.loads((run_dir / "checkpoint.json").read_text())
    assert (final["stage"], final["status"]) == ("ended", "answered")
    shown = magentic("trace", "show", str(run_dir), cwd=tmp_path)
    assert f"resumed after round {HOLD_AT - 1} (the run was killed)" in shown.stdout
    assert magentic("trace", "html", str(run_dir), cwd=tmp_path).returncode == 0
    assert f"Resumed after round {HOLD_AT - 1}" in (run_dir / "report.html").read_text()

    # Resuming a finished run says so and changes nothing.
    untouched = folder_state(run_dir)
    again = magentic("resume", str(run_dir), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "already finished" in again.stderr and again.stdout.strip() == expected
    assert folder_state(run_dir) == untouched


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run stopped by its budget of 2 rounds (of the 6 it needs)."""
    tmp = tmp_path_factory.mktemp("stopped")
    with ScriptedLLMServer(Notes()) as server:
        done = magentic(*run_args(server, tmp / "runs", "--max-rounds", "2"), cwd=tmp)
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["status"] == "out_of_budget"
    return next((tmp / "runs").iterdir())


def test_a_budget_stop_resumes_with_a_larger_budget_and_only_then(
    stopped_run: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    subprocess.run(["cp", "-a", str(stopped_run), str(run_dir)], check=True)
    untouched = folder_state(run_dir)
    same = magentic("resume", str(run_dir), cwd=tmp_path)
    assert same.returncode == 2 and "--max-rounds" in same.stderr, same.stderr
    assert len(same.stderr.strip().splitlines()) == 1
    assert folder_state(run_dir) == untouched

    with ScriptedLLMServer(Notes()) as server:
        more = magentic(
            "resume", str(run_dir), "--base-url", server.base_url, "--max-rounds", "10", "--json",
            cwd=tmp_path,
        )  # fmt: skip
    assert more.returncode == 0, more.stderr
    out = json.loads(more.stdout)
    assert out["status"] == "answered" and out["answer"] == "The notes add up to 55."
    assert min(progress_rounds(server)) == 3  # rounds 1 and 2 were done before the stop
    resumed = [e for e in trace_events(run_dir) if e["kind"] == "run_resumed"]
    assert resumed[0]["previous_status"] == "out_of_budget"
    assert resumed[0]["budgets"]["max_rounds"] == 10


def _truncated(text: str) -> str:
    return text[: len(text) // 2]


def _nonsense(text: str) -> str:
    data = json.loads(text)
    data["rounds"] = "a few"
    return json.dumps(data)


def _cursor_past_plan(text: str) -> str:
    data = json.loads(text)
    data["cursor_done"] = 99
    return json.dumps(data)


def _other_version(text: str) -> str:
    data = json.loads(text)
    data["version"] = 99
    return json.dumps(data)


@pytest.mark.parametrize(
    "spoil, says",
    [
        (_truncated, "not a readable checkpoint"),
        (_nonsense, "rounds"),
        (_cursor_past_plan, "plan cursor"),
        (_other_version, "format version 99"),
        (lambda text: "", "not a readable checkpoint"),
    ],
    ids=["truncated", "edited", "inconsistent", "other-version", "empty"],
)
def test_a_bad_checkpoint_is_one_line_exit_2_and_the_folder_untouched(
    stopped_run: Path, tmp_path: Path, spoil: Any, says: str
) -> None:
    run_dir = tmp_path / "run"
    subprocess.run(["cp", "-a", str(stopped_run), str(run_dir)], check=True)
    checkpoint = run_dir / "checkpoint.json"
    checkpoint.write_text(spoil(checkpoint.read_text()))
    untouched = folder_state(run_dir)
    done = magentic("resume", str(run_dir), "--max-rounds", "10", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(checkpoint) in lines[0] and says in lines[0], lines
    assert folder_state(run_dir) == untouched


@pytest.mark.slow
def test_bench_resume_goes_on_with_a_task_in_flight(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    row = {"task_id": "notes", "Question": "Give the five notes and add them up.", "Level": 1,
           "Final answer": "55", "file_name": ""}  # fmt: skip
    (suite / "metadata.jsonl").write_text(json.dumps(row) + "\n")
    out = tmp_path / "out"
    script = Notes()
    script.hold = True
    with ScriptedLLMServer(script) as server:
        args = ["bench", str(suite), "--out", str(out), "--agents", "Coder",
                "--base-url", server.base_url, "--model", "scripted", "--json"]  # fmt: skip
        kill_in_the_held_round(server, args, tmp_path)
        before = len(server.requests)
        script.hold = False
        done = magentic(*args, "--resume", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["status"] == "answered" and "55" in rows[0]["answer"]
    after = [done_notes(r) + 1 for r in server.requests[before:] if roles.phase(r) == "progress"]
    # Finished rounds were not asked about again, nor the held round's progress ledger,
    # which the run's call journal answered.
    assert min(after) == HOLD_AT + 1
    trace = out / rows[0]["trace_path"]
    kinds = [json.loads(line)["kind"] for line in trace.read_text().splitlines()]
    assert kinds.count("run_resumed") == 1 and kinds.count("run_started") == 1


def test_an_echoed_api_key_is_redacted_from_the_checkpoint(tmp_path: Path) -> None:
    key = "sk-resume-test-0123456789abcdef"

    def echoing(request: ChatRequest) -> Reply:
        if roles.phase(request) == "coder":
            return Reply.text(f"My key is {key}.")
        return Notes()(request)

    with ScriptedLLMServer(echoing) as server:
        done = subprocess.run(
            [sys.executable, "-m", "magentic.cli",
             *run_args(server, tmp_path / "runs", "--max-rounds", "1", "--api-key-env", "MY_API_KEY")],
            cwd=tmp_path, env={**env(), "MY_API_KEY": key}, capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
    assert done.returncode == 1, done.stderr
    text = next((tmp_path / "runs").glob("*/checkpoint.json")).read_text()
    assert key not in text and "My key is [redacted]." in text


def test_a_folder_that_is_not_a_resumable_run_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    for folder, says in [("missing", "is not a run folder"), ("empty", "no checkpoint here")]:
        done = magentic("resume", str(tmp_path / folder), cwd=tmp_path)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1 and says in lines[0], done.stderr
    assert not (tmp_path / "missing").exists() and not list((tmp_path / "empty").iterdir())
