"""A run whose process died shows as died, not as running forever: a real child process
writes a trace with the real TraceWriter and is killed with SIGKILL mid-run."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from magentic.events import RunStarted
from magentic.trace import owner
from magentic.trace.writer import TraceWriter
from magentic.ui.web.app import WebView
from magentic.ui.web.store import run_summary

# Writes run_started, waits until it is on disk, says so, then blocks until killed.
CHILD = """
import sys, time
from pathlib import Path
from magentic.events import RunStarted
from magentic.trace.writer import TraceWriter
writer = TraceWriter(Path(sys.argv[1]))
writer(RunStarted(task="a task that never ends", run_id="doomed", seq=1))
while writer.path.stat().st_size == 0:
    time.sleep(0.01)
print("ready", flush=True)
sys.stdin.read()
"""


async def test_a_run_killed_with_sigkill_shows_as_died(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "doomed"
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, str(run_dir),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip
    view = WebView([tmp_path / "runs"], 0, poll_s=0.02)
    url = await view.start()
    try:
        assert child.stdout is not None and await child.stdout.readline() == b"ready\n"
        assert json.loads((run_dir / owner.OWNER).read_text())["pid"] == child.pid
        assert run_summary("0/doomed", run_dir).status == "running"
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            await client.get(view.link())  # the printed link: its cookie opens the view
            page = await client.get("/run/0/doomed")
            assert "status <b>running</b>" in page.text and "/follow/run/" in page.text
            async with client.stream("GET", "/follow/run/0/doomed?offset=0") as stream:
                child.send_signal(signal.SIGKILL)
                await child.wait()
                lines = [line async for line in stream.aiter_lines()]  # ends: no hang
            assert "event: end" in lines and any("status <b>died</b>" in ln for ln in lines)
            index = await client.get("/")
            assert "<td>died</td>" in index.text
            page = await client.get("/run/0/doomed")
            assert "status <b>died</b>" in page.text and "/follow/run/" not in page.text
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
        await view.stop()


def test_a_closed_writer_or_a_long_silent_trace_is_not_running(tmp_path: Path) -> None:
    closed = tmp_path / "closed"
    writer = TraceWriter(closed)  # a run that broke off in this process, without an ending
    writer(RunStarted(task="t", run_id="closed", seq=1))
    writer.close()
    assert run_summary("0/closed", closed).status == "interrupted"
    old = tmp_path / "old"  # a trace from before writer.json, or from another machine
    old.mkdir()
    (old / "trace.jsonl").write_text(
        RunStarted(task="t", run_id="old", seq=1).model_dump_json() + "\n"
    )
    assert run_summary("0/old", old).status == "running"
    long_ago = time.time() - owner.QUIET_S - 60
    os.utime(old / "trace.jsonl", (long_ago, long_ago))
    assert run_summary("0/old", old).status == "lost"
