"""The ComputerTerminal under the `[approval]` table: code on the unsandboxed executor asks
(`local_code`), code in the sandbox follows `run_code`; with nobody there an ask is a no,
and the code does not run; a person's yes or `--yes` lets it run. Real executors only."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from magentic.agents.base import StepContext, TeamMessage
from magentic.agents.terminal import ComputerTerminal
from magentic.control.channel import NOBODY, ControlChannel
from magentic.control.commands import Approve
from magentic.control.gate import ApprovalGate
from magentic.control.settings import ApprovalSettings
from magentic.events import AgentActed, ControlDecided, ControlRequested, Event, EventBus
from magentic.execution import SandboxSettings, make_executor
from tests.execution.conftest import require_bwrap

CODE = "```python\nopen('made.txt', 'w').write('ran')\nprint('wrote made.txt')\n```"


@pytest.fixture
def workspace() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="magentic-test-ws-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def gated(
    workspace: Path, settings: ApprovalSettings, *, person: bool = False
) -> tuple[StepContext, list[Event]]:
    """A step context whose gate has the given table; `person`: a face that says yes."""
    bus = EventBus("test")
    events: list[Event] = []
    bus.subscribe(events.append)
    control = ControlChannel(bus)
    if person:
        control.attach("test")

        def face(event: Event) -> None:
            if isinstance(event, ControlRequested) and event.request_id in control.open_requests:
                command = Approve(request_id=event.request_id, reason="looks harmless")
                asyncio.get_running_loop().call_soon(control.send, command)

        bus.subscribe(face)
    ctx = StepContext(
        task="Write a file.",
        conversation=[TeamMessage("Coder", CODE)],
        workspace=workspace,
        events=bus,
        control=control,
        gate=ApprovalGate(settings, control),
    )
    return ctx, events


async def run(terminal: ComputerTerminal, ctx: StepContext) -> str:
    try:
        return (await terminal.step("Run the code.", ctx)).text
    finally:
        await terminal.close()


async def test_local_code_asks_and_with_nobody_there_does_not_run(workspace: Path) -> None:
    ctx, events = gated(workspace, ApprovalSettings())
    text = await run(ComputerTerminal(kind="local"), ctx)
    assert text.startswith("Ran nothing: running this code needs approval (local_code)")
    assert NOBODY in text
    assert not (workspace / "made.txt").exists()
    requested = [e for e in events if isinstance(e, ControlRequested)]
    decided = [e for e in events if isinstance(e, ControlDecided)]
    assert [r.action for r in requested] == ["local_code"]
    assert "without a sandbox" in requested[0].detail and "made.txt" in requested[0].detail
    assert [(d.decision, d.by) for d in decided] == [("deny", "nobody")]
    acted = [e for e in events if isinstance(e, AgentActed)]
    assert acted[-1].error == "not approved (local_code)"


async def test_local_code_runs_when_a_person_approves(workspace: Path) -> None:
    ctx, events = gated(workspace, ApprovalSettings(), person=True)
    text = await run(ComputerTerminal(kind="local"), ctx)
    assert "wrote made.txt" in text
    assert (workspace / "made.txt").read_text() == "ran"
    decided = [e for e in events if isinstance(e, ControlDecided)]
    assert [(d.decision, d.by, d.reason) for d in decided] == [
        ("allow", "person", "looks harmless")
    ]


async def test_yes_turns_the_ask_into_allow_and_says_so(workspace: Path) -> None:
    ctx, events = gated(workspace, ApprovalSettings(yes=True))
    text = await run(ComputerTerminal(kind="local"), ctx)
    assert "wrote made.txt" in text
    decided = [e for e in events if isinstance(e, ControlDecided)]
    assert [(d.decision, d.by) for d in decided] == [("allow", "policy")]
    assert "--yes" in decided[0].reason


@pytest.mark.bwrap
async def test_run_code_in_the_sandbox_follows_its_own_rule(workspace: Path) -> None:
    require_bwrap()
    # Allowed by default in a sandbox: no request at all, even though local_code would ask.
    ctx, events = gated(workspace, ApprovalSettings())
    executor = make_executor("bwrap", workspace, SandboxSettings(timeout=30))
    assert "wrote made.txt" in await run(ComputerTerminal(executor), ctx)
    assert not [e for e in events if isinstance(e, ControlRequested)]
    (workspace / "made.txt").unlink()
    # deny: refused by the policy, recorded, and nothing runs (not even --yes overrides it).
    ctx, events = gated(workspace, ApprovalSettings(run_code="deny", yes=True))
    executor = make_executor("bwrap", workspace, SandboxSettings(timeout=30))
    text = await run(ComputerTerminal(executor), ctx)
    assert "the [approval] rule run_code is deny" in text
    assert not (workspace / "made.txt").exists()
    decided = [e for e in events if isinstance(e, ControlDecided)]
    assert [(d.decision, d.by) for d in decided] == [("deny", "policy")]
