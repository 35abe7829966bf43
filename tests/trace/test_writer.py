from __future__ import annotations

import os
from pathlib import Path

from magentic.events import AgentActed, Attachment, EventBus, RunFinished
from magentic.trace.writer import TraceWriter, finish_all, read_trace


def test_events_round_trip_with_attachments_and_secrets_scrubbed(tmp_path: Path) -> None:
    writer = TraceWriter(tmp_path / "run", secrets=["hunter2-secret"])
    bus = EventBus("r1")
    bus.subscribe(writer)
    png = b"\x89PNG\r\n\x1a\nfake"
    bus.emit(
        AgentActed(
            agent="WebSurfer",
            action="click",
            result="typed hunter2-secret and sk-abcdefghijklmnopqrstuvwxyz",
            attachments=[Attachment(name="shot.png", data=png)],
        )
    )
    bus.emit(RunFinished(status="answered", stop_reason="done", answer="42"))
    writer.close()
    events = read_trace(tmp_path / "run")
    assert [e.kind for e in events] == ["agent_acted", "run_finished"]
    assert [e.seq for e in events] == [1, 2] and events[0].run_id == "r1"
    acted = events[0]
    assert isinstance(acted, AgentActed)
    assert "hunter2-secret" not in acted.result and "sk-abc" not in acted.result
    assert (tmp_path / "run" / acted.attachment_paths[0]).read_bytes() == png
    assert "fake" not in (tmp_path / "run" / "trace.jsonl").read_text()  # bytes live beside it


def test_an_undecodable_file_name_is_escaped_not_lost(tmp_path: Path) -> None:
    name = os.fsdecode(b"caf\xe9-\xff.csv")  # what os.listdir gives for these bytes
    writer = TraceWriter(tmp_path / "run")
    bus = EventBus("r1")
    bus.subscribe(writer)
    bus.emit(AgentActed(agent="FileSurfer", action="list_directory", result=f"| {name} |"))
    bus.emit(RunFinished(status="answered", stop_reason="done"))
    writer.close()
    events = read_trace(tmp_path / "run")
    assert [e.kind for e in events] == ["agent_acted", "run_finished"]
    assert isinstance(events[0], AgentActed) and events[0].result == "| caf\\xe9-\\xff.csv |"


def test_finish_ends_an_open_trace_with_its_reason(tmp_path: Path) -> None:
    """The hard-exit path: a run that never wrote run_finished gets one."""
    writer = TraceWriter(tmp_path / "run")
    bus = EventBus("r1")
    bus.subscribe(writer)
    bus.emit(AgentActed(agent="Coder", action="answer"))
    finish_all("stopped by SIGTERM")
    events = read_trace(tmp_path / "run")
    assert [e.kind for e in events] == ["agent_acted", "run_finished"]
    last = events[-1]
    assert isinstance(last, RunFinished) and last.status == "cancelled"
    assert last.stop_reason == "stopped by SIGTERM" and last.run_id == "r1" and last.seq == 2
    writer.close()


def test_a_trace_cut_mid_line_by_a_kill_is_made_whole_for_a_resume(tmp_path: Path) -> None:
    from magentic.trace.writer import continue_trace

    trace = tmp_path / "trace.jsonl"
    whole = '{"kind": "run_started", "seq": 1}\n{"kind": "delegated", "seq": 2}\n'
    trace.write_text(whole + '{"kind": "agent_rep')
    assert continue_trace(trace) == 2
    assert trace.read_text() == whole  # the half line is gone; appending starts clean
    assert continue_trace(trace) == 2 and trace.read_text() == whole
    assert continue_trace(tmp_path / "none.jsonl") == 0
