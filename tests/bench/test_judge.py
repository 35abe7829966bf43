"""WebVoyager-style tasks judged by a model: the real runner, real trace files with real
screenshots, and the real openai client talking to a ScriptedLLMServer as the judge."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from magentic.bench.judge import RUBRIC, Judge
from magentic.bench.results import ResultStore
from magentic.bench.runner import BenchOptions, TaskOutcome, bench_main, run_bench
from magentic.bench.suite import BenchTask
from magentic.bench.suites import load_suite
from magentic.errors import ConfigError
from magentic.events import AgentActed, Attachment
from magentic.llm.settings import ModelSettings
from magentic.testing import ScriptedLLMServer
from magentic.testing.replies import Reply
from magentic.testing.server import ChatRequest
from magentic.trace.writer import TraceWriter

REPO = Path(__file__).resolve().parents[2]
ROWS = [
    {"web_name": "Museum", "id": "Museum--0", "ques": "Find the opening hours on Monday.",
     "web": "https://museum.example.org/"},
    {"web_name": "Shop", "id": "Shop--1", "ques": "Find the cheapest red kettle.",
     "web": "https://shop.example.org/"},
    {"web_name": "Shop", "id": "Shop--2", "ques": "Find a blue kettle.",
     "web": "https://shop.example.org/"},
]  # fmt: skip
COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]


def write(root: Path, rows: list[dict[str, object]]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "webvoyager_tasks.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def png(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def colours_sent(request: ChatRequest) -> list[tuple[int, int, int]]:
    found = []
    for message in request.messages:
        content = message.get("content")
        for part in content if isinstance(content, list) else []:
            if part.get("type") == "image_url":
                data = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
                found.append(Image.open(io.BytesIO(data)).convert("RGB").getpixel((5, 5)))
    return found


async def browse(task: BenchTask, repeat: int, workdir: Path) -> TaskOutcome:
    """A run that took four screenshots and answered (the third task gives up)."""
    writer = TraceWriter(workdir)
    for seq, colour in enumerate(COLOURS, start=1):
        shot = Attachment(name=f"shot{seq}.png", data=png(colour))
        writer(AgentActed(agent="WebSurfer", action="look", seq=seq, attachments=[shot]))
    writer.close()
    answer = "" if task.task_id == "Shop--2" else "FINAL ANSWER: 10:00-18:00"
    return TaskOutcome(answer=answer, trace_path=writer.path)


def test_webvoyager_file_loads_and_bad_rows_name_the_task(tmp_path: Path) -> None:
    suite = load_suite(write(tmp_path / "wv", ROWS).parent)
    assert suite.kind == "webvoyager" and [t.level for t in suite.tasks] == [1, 1, 1]
    first = suite.tasks[0]
    assert first.truth is None and "Start at https://museum.example.org/" in first.question
    with pytest.raises(ConfigError, match=r"task x\): web 'ftp://a' is not an http"):
        load_suite(write(tmp_path / "bad", [{"id": "x", "ques": "q", "web": "ftp://a"}]))


async def test_a_judged_suite_needs_a_judge(tmp_path: Path) -> None:
    path = write(tmp_path / "wv", ROWS)
    with pytest.raises(ConfigError, match="give --judge-model"):
        await run_bench(load_suite(path), BenchOptions(suite=path, out=tmp_path / "o"), browse)
    assert not (tmp_path / "o" / "results.jsonl").exists()


async def test_judge_verdicts_and_reasons_are_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def script(request: ChatRequest) -> Reply:
        if request.wants("opening hours"):
            return Reply.json({"reasons": "The hours are on the page shown.", "success": True})
        return Reply.json({"reasons": "No kettle price is visible.", "success": False})

    path = write(tmp_path / "wv", ROWS)
    out = tmp_path / "out"
    async with ScriptedLLMServer(script) as server:
        judge = Judge(ModelSettings(model="judge-m", base_url=server.base_url, api_key="k-judge"))
        try:
            options = BenchOptions(suite=path, out=out, json_output=True, judge_model="judge-m")
            assert await bench_main(options, browse, judge=judge) == 0
        finally:
            await judge.close()
    got = {r.task_id: r for r in ResultStore(out).load()}
    museum, red, blue = got["Museum--0"], got["Shop--1"], got["Shop--2"]
    assert (museum.credit, museum.correct) == (1.0, True)
    assert museum.judge_reasons == "The hours are on the page shown."
    assert (red.credit, red.correct, red.judge_reasons) == (
        0.0,
        False,
        "No kettle price is visible.",
    )
    assert (blue.credit, blue.judge_reasons) == (0.0, "no final answer to judge")
    # the judge was asked twice (not for the empty answer), with our rubric and the last
    # three screenshots, oldest first
    judged = [r for r in server.requests if RUBRIC.splitlines()[0] in r.system_text()]
    assert len(judged) == 2
    for request in judged:
        assert colours_sent(request) == COLOURS[1:]
        assert "10:00-18:00" in request.all_text()
    report = (out / "report.md").read_text()
    assert "judge: No kettle price is visible." in report
    line = json.loads(capsys.readouterr().out)
    assert line["levels"]["all"]["pass1"] == pytest.approx(1 / 3)
    assert json.loads((out / "manifest.json").read_text())["selection"]["judge_model"] == "judge-m"


async def test_a_failing_judge_leaves_the_run_unscored_with_the_reason(tmp_path: Path) -> None:
    path = write(tmp_path / "wv", ROWS[:1])
    out = tmp_path / "out"
    refusal = Reply.text("", status=401, error_message="judge key refused")
    async with ScriptedLLMServer([refusal] * 4) as server:
        judge = Judge(
            ModelSettings(model="j", base_url=server.base_url, api_key="k", max_retries=0)
        )
        try:
            await run_bench(
                load_suite(path), BenchOptions(suite=path, out=out), browse, judge=judge
            )
        finally:
            await judge.close()
    (result,) = ResultStore(out).load()
    assert result.credit is None and result.correct is None
    assert result.judge_reasons is not None and result.judge_reasons.startswith("judge failed:")


def test_cli_lists_webvoyager_tasks_without_a_judge(tmp_path: Path) -> None:
    path = write(tmp_path, ROWS)
    done = subprocess.run(
        [sys.executable, "-m", "magentic.cli", "bench", str(path), "--list", "--limit", "1"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(REPO)},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["Museum--0\tlevel 1\t-"]
