"""The web view: the real server on a free port, driven with httpx; live traces followed as
server-sent events; hostile run text escaped; damaged traces still shown."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from magentic.config import load_config
from magentic.errors import ConfigError
from magentic.events import (
    AgentActed,
    AgentReplied,
    Attachment,
    Delegated,
    Event,
    EventBus,
    FinalAnswer,
    LedgerUpdated,
    ModelDelta,
    RunFinished,
    RunStarted,
)
from magentic.team import run_task
from magentic.testing import ScriptedLLMServer
from magentic.testing.demo import DEMO_TASK, demo_script
from magentic.trace.writer import TraceWriter
from magentic.ui.web.app import WebView

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


async def _started(roots: list[Path]) -> tuple[WebView, httpx.AsyncClient]:
    """A view, and a client that opened its printed link (so it holds the cookie)."""
    view = WebView(roots, 0, poll_s=0.02)
    url = await view.start()
    client = httpx.AsyncClient(base_url=url, timeout=10)
    assert (await client.get(view.link())).status_code == 303
    return view, client


async def _sse(response: httpx.Response) -> AsyncIterator[tuple[str, dict]]:
    name = ""
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            yield name, json.loads(line[6:])


async def test_a_real_run_is_listed_and_its_page_shows_rounds_calls_and_answer(
    tmp_path: Path,
) -> None:
    with ScriptedLLMServer(demo_script) as server:
        config = load_config(
            overrides={
                "models.default.base_url": server.base_url,
                "models.default.model": "scripted",
                "agents": ["Coder"],
                "cache.mode": "off",
                "trace_dir": tmp_path / "runs",
            },
            environ={},
        )
        result = await run_task(DEMO_TASK, config)
    view, client = await _started([tmp_path / "runs"])
    try:
        index = await client.get("/")
        run_id = Path(str(result.trace_path)).parent.name
        page = await client.get(f"/run/0/{run_id}")
    finally:
        await client.aclose()
        await view.stop()
    assert index.status_code == 200 and "the first 25 prime numbers" in index.text
    assert f'href="/run/0/{run_id}"' in index.text and "answered" in index.text
    assert page.status_code == 200
    text = page.text
    assert "1. Coder: Write a program that prints the sum." in text  # the plan
    assert "round 1 → Coder" in text and "progress ledger" in text
    assert "def primes(count)" in text  # the Coder's reply
    assert text.count('class="ev model_called"') == 6 and " ms · $" in text
    assert result.answer and f"<b>answer</b><pre>{result.answer}" in text
    assert "data-follow" not in text  # a finished run is not followed
    assert "script-src 'self'" in page.headers["content-security-policy"]


def _write(run_dir: Path, *events: object) -> tuple[EventBus, TraceWriter]:
    bus = EventBus(run_dir.name)
    writer = TraceWriter(run_dir)
    bus.subscribe(writer)
    for event in events:
        bus.emit(event)  # type: ignore[arg-type]
    return bus, writer


async def test_hostile_run_text_is_escaped_and_files_stay_inside_the_run(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "r1"
    _, writer = _write(
        run,
        RunStarted(task=HOSTILE, agents=["WebSurfer"]),
        Delegated(round=1, agent="WebSurfer", instruction=HOSTILE),
        AgentActed(
            agent="WebSurfer",
            action="visit",
            args={"url": HOSTILE},
            result=HOSTILE,
            attachments=[Attachment(name="shot.png", data=PNG)],
        ),
        AgentReplied(round=1, agent="WebSurfer", text=HOSTILE),
        FinalAnswer(answer=HOSTILE),
        RunFinished(status="answered", stop_reason=HOSTILE, answer=HOSTILE),
    )
    writer.close()
    (tmp_path / "secret.txt").write_text("not for the web")
    view, client = await _started([tmp_path / "runs"])
    try:
        page = await client.get("/run/0/r1")
        index = await client.get("/")
        shot = await client.get("/file/0/r1/attachments/00003-shot.png")
        # encoded, so the client does not tidy the dots away before the server sees them
        escape = await client.get("/file/0/r1/attachments/..%2F..%2F..%2Fsecret.txt")
        outside = await client.get("/run/0/..%2F..")
    finally:
        await client.aclose()
        await view.stop()
    for body in (page.text, index.text):
        assert "<script>alert" not in body and "<img src=x" not in body
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in body
    assert page.text.count("&lt;img src=x onerror=alert(1)&gt;") >= 5
    assert 'src="/file/0/r1/attachments/00003-shot.png"' in page.text
    assert shot.status_code == 200 and shot.content == PNG
    assert shot.headers["content-type"] == "image/png"
    assert escape.status_code == 404 and "not for the web" not in escape.text
    assert outside.status_code == 404
    assert view.library.folder("0/../..") is None and view.library.folder("1/r1") is None


async def test_a_damaged_or_older_trace_still_renders_with_a_note(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "old"
    run.mkdir(parents=True)
    good = RunStarted(task="count the widgets", run_id="old", seq=1).model_dump_json()
    older = json.dumps({"kind": "tool_called", "seq": 2, "tool": "calc"})
    renamed = json.dumps({"kind": "delegated", "seq": 3, "speaker": "Coder"})  # old field name
    run.joinpath("trace.jsonl").write_text(
        f'{good}\n{older}\nnot json at all\n{renamed}\n{{"kind": "agent_repl'
    )
    view, client = await _started([tmp_path / "runs"])
    try:
        page = await client.get("/run/0/old")
        index = await client.get("/")
    finally:
        await client.aclose()
        await view.stop()
    assert page.status_code == 200 and "count the widgets" in page.text
    assert "1 line(s) of the trace could not be read" in page.text
    assert "2 event(s) from another version" in page.text and "tool_called" in page.text
    assert "last line is not whole" in page.text
    assert index.status_code == 200 and "count the widgets" in index.text


async def test_a_live_trace_is_caught_up_then_followed_to_its_end(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "live"
    run.mkdir(parents=True)
    trace = run / "trace.jsonl"
    seq = iter(range(1, 100))

    def line(event: Event) -> str:
        event.run_id, event.seq = "live", next(seq)
        return event.model_dump_json() + "\n"

    trace.write_text(
        line(RunStarted(task="watch me", agents=["Coder"]))
        + line(LedgerUpdated(replan=0, facts="-", plan="1. Coder: write it"))
    )
    view, client = await _started([tmp_path / "runs"])
    seen: list[tuple[str, dict]] = []
    try:
        page = await client.get("/run/0/live")
        assert "1. Coder: write it" in page.text  # caught up from the file
        follow = page.text.split('data-follow="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
        assert follow.startswith("/follow/run/0/live?offset=")
        async with client.stream("GET", follow) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            stream = _sse(response)
            with trace.open("a") as handle:
                handle.write(line(Delegated(round=1, agent="Coder", instruction="write <b>it</b>")))
            seen.append(await asyncio.wait_for(stream.__anext__(), 10))
            # streamed text of a run in this process reaches the page, though never the trace
            view.streams.push(ModelDelta(run_id="live", role="coder", text="<b>par t", chars=8))
            delta = await asyncio.wait_for(stream.__anext__(), 10)
            reply = line(AgentReplied(round=1, agent="Coder", text="done and dusted"))
            with trace.open("a") as handle:  # half a line first: it waits to be whole
                handle.write(reply[:20])
                handle.flush()
                handle.write(reply[20:])
                handle.write(line(RunFinished(status="answered", stop_reason="ok", rounds=1)))
            async for item in stream:
                seen.append(item)
                if item[0] == "end":
                    break
    finally:
        await client.aclose()
        await view.stop()
    html = "".join(data.get("html", "") for _, data in seen)
    assert "round 1 → Coder" in html and "write &lt;b&gt;it&lt;/b&gt;" in html
    assert html.count("done and dusted") == 1 and "unknown" not in html
    assert "1. Coder: write it" not in html  # what the page showed is not sent again
    assert seen[-1][0] == "end" and "answered" in seen[-2][1]["status"]
    # shown up to the last whitespace: the word after it may be the start of a key
    assert delta == ("delta", {"role": "coder", "text": "<b>par ", "chars": 7})
    assert "<b>par" not in trace.read_text()


def test_a_port_in_use_is_one_clear_line(tmp_path: Path) -> None:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        with pytest.raises(ConfigError, match=f"127.0.0.1:{port}.*--port"):
            WebView([tmp_path], port)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAGENTIC_")}
        done = subprocess.run(
            [sys.executable, "-m", "magentic.cli", "ui", str(tmp_path), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
    finally:
        busy.close()
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and "--port" in done.stderr


def _result(task_id: str, level: int, correct: bool | None, trace: str | None) -> str:
    record = {
        "task_id": task_id,
        "level": level,
        "question": f"question {task_id}",
        "status": "answered",
        "correct": correct,
        "seconds": 12.0,
        "cost": 0.5,
        "prompt_tokens": 1000,
        "completion_tokens": 234,
        "trace_path": trace,
    }
    return json.dumps(record) + "\n"


async def test_a_bench_page_links_runs_scores_levels_and_follows_new_results(
    tmp_path: Path,
) -> None:
    out = tmp_path / "bench-out"
    run = out / "work" / "t1"
    run.mkdir(parents=True)
    (run / "trace.jsonl").write_text(
        RunStarted(task="question t1", run_id="t1", seq=1).model_dump_json() + "\n"
    )
    results = out / "results.jsonl"
    results.write_text(
        _result("t1", 1, True, "work/t1/trace.jsonl")
        + _result("t2", 1, False, None)
        + _result("<t3>", 2, True, None)
    )
    view, client = await _started([out])
    try:
        index = await client.get("/")
        page = await client.get("/bench/0/.")
        follow = page.text.split('data-follow="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
        async with client.stream("GET", follow) as response:
            stream = _sse(response)
            with results.open("a") as handle:
                handle.write(_result("t4", 2, False, None))
            name, data = await asyncio.wait_for(stream.__anext__(), 10)
    finally:
        await client.aclose()
        await view.stop()
    assert 'href="/bench/0/."' in index.text and "question t1" in index.text
    text = page.text
    assert '<a href="/run/0/work/t1">t1</a>' in text  # each task links to its run
    assert "&lt;t3&gt;" in text and "<t3>" not in text
    assert "<td>1</td><td>1/2</td><td>50.0%</td>" in text  # accuracy by level
    assert "<td>2</td><td>1/1</td><td>100.0%</td>" in text
    assert "<td>all</td><td>2/3</td>" in text and "1,234" in text
    assert name == "append" and ">t4<" in data["html"]
    assert "<td>2</td><td>1/2</td><td>50.0%</td>" in data["accuracy"]


def test_run_with_ui_says_where_to_watch(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MAGENTIC_"))}
    with ScriptedLLMServer(demo_script) as server:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "magentic.cli",
                "run",
                DEMO_TASK,
                "--base-url",
                server.base_url,
                "--agents",
                "Coder",
                "--trace-dir",
                str(tmp_path / "runs"),
                "--ui",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
            env=env,
        )
    assert done.returncode == 0, done.stderr
    [line] = [ln for ln in done.stderr.splitlines() if "watch this run at" in ln]
    [run_dir] = (tmp_path / "runs").iterdir()
    assert line.split(" at ", 1)[1].startswith("http://127.0.0.1:")
    link, _, key = line.partition("?key=")
    assert link.endswith(f"/run/0/{run_dir.name}") and len(key) == 64  # the key, once
    assert key not in (run_dir / "trace.jsonl").read_text()
    assert "watch" not in done.stdout


def test_bench_with_ui_says_where_to_watch(tmp_path: Path) -> None:
    from ..test_cli import _answer_at_once

    suite = Path(__file__).resolve().parents[2] / "benchmarks" / "suites" / "local"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MAGENTIC_"))}
    with ScriptedLLMServer(_answer_at_once) as server:
        done = subprocess.run(
            [sys.executable, "-m", "magentic.cli", "bench", str(suite), "--limit", "2",
             "--agents", "Coder", "--base-url", server.base_url, "--model", "scripted",
             "--out", str(tmp_path / "out"), "--json", "--ui"],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
            env=env,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [line] = [ln for ln in done.stderr.splitlines() if "watch this bench at" in ln]
    assert line.split(" at ", 1)[1].startswith("http://127.0.0.1:") and "/?key=" in line
    assert json.loads(done.stdout.strip().splitlines()[-1])  # stdout keeps its JSON line


def test_streamed_text_gathered_between_turns_goes_as_one_message_per_call() -> None:
    from magentic.ui.web.app import merge_deltas

    deltas = [
        {"role": "coder", "text": "def ", "chars": 4},  # a call starts
        {"role": "coder", "text": "f():", "chars": 8},
        {"role": "orchestrator", "text": "{", "chars": 1},  # another call
        {"role": "orchestrator", "text": "{", "chars": 1},  # a retry starts afresh
        {"role": "orchestrator", "text": '"a"', "chars": 4},
    ]
    assert merge_deltas(deltas) == [
        {"role": "coder", "text": "def f():", "chars": 8},
        {"role": "orchestrator", "text": "{", "chars": 1},
        {"role": "orchestrator", "text": '{"a"', "chars": 4},
    ]
