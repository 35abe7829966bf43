"""Hostile files through the real FileSurfer: zip bombs, a converter that runs too long, a pipe.

Each case drives the agent through the real openai client (ScriptedLLMServer plays a model
that opens the file the instruction names) and checks what matters when a file attacks: a
clear observation instead of a dead process, memory bounded in this process and in the
conversion worker, and no conversion process left behind. The seconds each case takes are
measured by benchmarks/hostile_files.py, not asserted here.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from magentic.agents.base import StepContext
from magentic.agents.file_surfer import FileSurfer, FileSurferSettings
from magentic.agents.file_viewer import FileViewer
from magentic.agents.file_worker import peak_rss_kb
from magentic.config import load_config
from magentic.events import AgentActed, Event, EventBus
from magentic.llm.client import ModelClient
from magentic.llm.settings import ModelSettings
from magentic.team import run_task
from magentic.testing import ChatRequest, Reply, ScriptedLLMServer, roles
from magentic.trace.writer import read_trace

MB = 1024  # kB in a MB: /proc reports kB


def opener(req: ChatRequest) -> Reply:
    """A model that opens the file its instruction names: 'open NAME'."""
    m = re.search(r"^Instruction: open (\S+)$", req.last_user_text(), re.MULTILINE)
    return Reply.tool_call("open_path", {"path": m.group(1) if m else ""})


_EARLIER: set[int] = set()


@pytest.fixture(autouse=True)
def _workers_of_earlier_tests() -> None:
    """A worker another test left behind (it ends with its idle time-out) is not this test's
    to answer for; only workers this test started count."""
    _EARLIER.clear()
    _EARLIER.update(_all_worker_children())


def worker_children() -> list[int]:
    """Conversion workers of this process that the running test started."""
    return [pid for pid in _all_worker_children() if pid not in _EARLIER]


def _all_worker_children() -> list[int]:
    """Conversion worker processes whose parent is this test process."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == os.getpid() and b"magentic.agents.file_worker" in cmdline:
            found.append(int(entry.name))
    return found


class Surfer:
    """A FileSurfer on the scripted opener, reading one workspace."""

    def __init__(self, server: ScriptedLLMServer, workspace: Path, **settings: object) -> None:
        self.events: list[Event] = []
        bus = EventBus()
        bus.subscribe(self.events.append)
        model = ModelSettings(model="scripted", base_url=server.base_url, api_key="test")
        self.client = ModelClient(model, role="file_surfer", events=bus)
        self.agent = FileSurfer(self.client, [workspace], FileSurferSettings(**settings))
        self.ctx = StepContext(task="read", conversation=[], workspace=workspace, events=bus)

    async def open(self, name: str) -> str:
        return (await self.agent.step(f"open {name}", self.ctx)).text

    def errors(self) -> list[str | None]:
        return [e.error for e in self.events if isinstance(e, AgentActed)]


@pytest.fixture
async def server() -> AsyncIterator[ScriptedLLMServer]:
    async with ScriptedLLMServer(opener) as server:
        yield server
        assert not server.script_errors, server.script_errors


@pytest.mark.parametrize(
    ("ext", "kind"),
    [
        (".docx", "Word document"),
        (".xlsx", "Excel workbook"),
        (".pptx", "PowerPoint deck"),
        (".epub", "EPUB book"),
        (".odt", "OpenDocument text"),
        (".zip", "ZIP archive"),
    ],
)
async def test_a_zip_bomb_is_refused_before_it_is_opened(
    server: ScriptedLLMServer, tmp_path: Path, docx_bomb: Path, ext: str, kind: str
) -> None:
    """Every ZIP-based container type is size-checked (the same 1 GB bomb, renamed)."""
    shutil.copy(docx_bomb, tmp_path / f"report{ext}")
    surfer = Surfer(server, tmp_path)
    before = peak_rss_kb()
    reply = await surfer.open(f"report{ext}")
    assert f"Refused to open report{ext} ({kind})" in reply
    assert "would unpack to 1024.0 MB" in reply and "zip bomb" in reply
    assert surfer.errors() and "zip bomb" in (surfer.errors()[0] or "")
    assert peak_rss_kb() - before < 500 * MB  # this process never held the unpacked text
    worker_peak = surfer.agent.viewer.converter.worker_peak_rss_kb
    assert worker_peak is not None and worker_peak < 500 * MB  # nor did the worker
    await surfer.agent.close()
    await surfer.client.close()
    assert worker_children() == []


async def test_a_bomb_inside_a_zip_is_refused_too(
    server: ScriptedLLMServer, tmp_path: Path, nested_bomb: Path
) -> None:
    surfer = Surfer(server, tmp_path)
    reply = await surfer.open("bundle.zip")
    assert "Refused to open bundle.zip (ZIP archive)" in reply
    assert "inner/report.docx would unpack to 1024.0 MB" in reply
    await surfer.agent.close()
    await surfer.client.close()
    assert worker_children() == []


async def test_past_the_size_check_the_memory_limit_stops_the_bomb(
    server: ScriptedLLMServer, tmp_path: Path, docx_bomb: Path
) -> None:
    """With the size check opened wide, the worker's address-space limit is what holds."""
    shutil.copy(docx_bomb, tmp_path / "report.docx")
    surfer = Surfer(
        server, tmp_path, max_unpacked_mb=100_000, max_zip_ratio=1e9, conversion_memory_mb=768
    )
    before = peak_rss_kb()
    reply = await surfer.open("report.docx")
    assert "Could not read report.docx" in reply and "768 MB memory limit" in reply, reply
    assert peak_rss_kb() - before < 500 * MB
    converter = surfer.agent.viewer.converter
    assert converter.worker_peak_rss_kb is not None
    assert converter.worker_peak_rss_kb < 768 * MB
    assert converter.worker_pid is None and worker_children() == []  # it was ended
    (tmp_path / "note.txt").write_text("still readable afterwards")
    assert "still readable afterwards" in await surfer.open("note.txt")  # a fresh worker
    await surfer.agent.close()
    await surfer.client.close()
    assert worker_children() == []


async def test_a_conversion_past_its_deadline_is_killed(
    server: ScriptedLLMServer, tmp_path: Path, big_csv: Path
) -> None:
    (tmp_path / "warm.txt").write_text("the worker is up")
    surfer = Surfer(server, tmp_path)
    assert "the worker is up" in await surfer.open("warm.txt")
    converter = surfer.agent.viewer.converter
    pid = converter.worker_pid
    assert pid is not None
    surfer.agent.settings.conversion_timeout_s = 0.5
    reply = await surfer.open("huge.csv")
    assert "Reading huge.csv took over 0.5 s, the limit; the conversion was stopped" in reply
    assert peak_rss_kb(pid) is None  # killed and reaped: no /proc entry left
    assert worker_children() == []
    surfer.agent.settings.conversion_timeout_s = 60
    assert "the worker is up" in await surfer.open("warm.txt")  # cached: no worker needed
    await surfer.agent.close()
    await surfer.client.close()


async def test_a_named_pipe_is_not_read(server: ScriptedLLMServer, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "feed.txt")  # opening it would block until a writer came
    surfer = Surfer(server, tmp_path)
    reply = await surfer.open("feed.txt")
    assert "feed.txt is not a regular file" in reply
    await surfer.agent.close()
    await surfer.client.close()
    assert worker_children() == []


ODD_NAME = b"caf\xe9-\xff.csv"  # Latin-1 and a stray byte: not valid UTF-8


def _odd_run(req: ChatRequest) -> Reply:
    """The orchestrator and the FileSurfer of a run that lists the workspace, then opens
    the file whose name is not UTF-8 by the escaped name the listing showed."""
    if "open_path" in req.tool_names:
        if "List" in req.last_user_text().split("\n", 1)[0]:
            return Reply.tool_call("list_directory", {})
        listed = re.search(r"\| (caf\S+\.csv) \|", req.all_text())
        return Reply.tool_call("open_path", {"path": listed.group(1) if listed else "?"})
    step = roles.phase(req)
    if step == "facts":
        return roles.facts()
    if step == "plan":
        return roles.plan(("FileSurfer", "list, then open"))
    if step == "progress":
        said = roles.last_from(req, "FileSurfer") or ""
        if "| 1 | 2 |" in said:
            return roles.progress(satisfied=True)
        if "open_path" in said or "list_directory" in said:
            return roles.progress("FileSurfer", "Open the CSV file in the listing.")
        return roles.progress("FileSurfer", "List the workspace.")
    return Reply.text("FINAL ANSWER: the table holds 1 and 2")


async def test_a_file_name_that_is_not_utf8_travels_as_an_escape(tmp_path: Path) -> None:
    """Defect 8: such a name made every later model call fail and the trace lose events."""
    run_dir = tmp_path / "run"
    (run_dir / "workspace").mkdir(parents=True)
    odd = os.path.join(os.fsencode(run_dir / "workspace"), ODD_NAME)
    fd = os.open(odd, os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"a,b\n1,2\n")
    os.close(fd)
    async with ScriptedLLMServer(_odd_run) as server:
        config = load_config(
            overrides={"agents": ["FileSurfer"], "models.default.base_url": server.base_url}
        )
        result = await run_task("what is in the csv?", config, run_dir=run_dir)
        assert not server.script_errors, server.script_errors
        sent = [r.all_text() for r in server.requests]
    assert result.status == "answered", result.stop_reason
    assert any("| caf\\xe9-\\xff.csv | CSV table |" in text for text in sent)
    assert any("Path: " in t and "caf\\xe9-\\xff.csv" in t and "| 1 | 2 |" in t for t in sent)
    events = read_trace(run_dir)
    kinds = [e.kind for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert [e.seq for e in events] == list(range(1, len(events) + 1))  # none lost
    opened = [e for e in events if isinstance(e, AgentActed) and e.action == "open_path"]
    assert opened and opened[0].args == {"path": "caf\\xe9-\\xff.csv"} and opened[0].error is None


async def test_a_worker_started_ahead_is_used_once_and_never_left_behind(tmp_path: Path) -> None:
    (tmp_path / "note.txt").write_text("warm and ready")
    viewer = FileViewer([tmp_path])
    viewer.converter.warm_up()  # as the FileSurfer does while its model chooses
    await viewer.close()  # closed while it may still be starting
    assert worker_children() == []
    viewer.converter.warm_up()
    viewer.converter.warm_up()  # a second call while the first is starting: no second worker
    view = await viewer.open("note.txt")
    assert view.ok and "warm and ready" in view.text
    assert len(worker_children()) == 1
    await viewer.close()
    assert worker_children() == []


async def test_a_worker_that_went_away_is_replaced(tmp_path: Path) -> None:
    """A worker that exited (idle too long, or killed from outside) is started again."""
    (tmp_path / "a.txt").write_text("first file")
    (tmp_path / "b.txt").write_text("second file")
    viewer = FileViewer([tmp_path])
    assert "first file" in (await viewer.open("a.txt")).text
    pid = viewer.converter.worker_pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    view = await viewer.open("b.txt")
    assert view.ok and "second file" in view.text, view.text
    assert viewer.converter.worker_pid not in (None, pid)
    await viewer.close()
    assert worker_children() == []


async def test_a_folder_of_many_files_is_listed_in_part(tmp_path: Path) -> None:
    crowd = tmp_path / "crowd"
    crowd.mkdir()
    for i in range(10_050):
        (crowd / f"f{i:05d}.txt").touch()
    (tmp_path / "sub").mkdir()
    for i in range(1_005):
        (tmp_path / "sub" / f"g{i}").touch()
    viewer = FileViewer([tmp_path])
    view = await viewer.list_directory("crowd")
    assert view.ok and "(over 10000 entries):" in view.text
    assert viewer.document is not None
    assert "(over 10000 entries in all; 9500 more not shown)" in viewer.document.text
    top = await viewer.list_directory()
    assert "| sub/ | folder | over 1000 entries |" in top.text
