"""A run held at an approval, served by a real web view that steers it: what an attacker of
the view wants to decide. The channel, the trace writer and the server are the real ones;
the "run" is the one request a WebSurfer would open before posting a form."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from magentic.control.channel import ControlChannel, Decision
from magentic.events import Event, EventBus, RunStarted
from magentic.trace.writer import TraceWriter, read_trace
from magentic.ui.web.app import WebView
from magentic.ui.web.steering import WebSteering

RUN_ID = "held-run"


@dataclass
class Held:
    view: WebView
    control: ControlChannel
    steering: WebSteering
    bus: EventBus
    writer: TraceWriter
    decision: asyncio.Task[Decision]
    folder: Path

    seen: list[Event]  # every event of the run, as the trace writer got it

    def steered(self) -> list[Event]:
        """What any face did to the run: commands taken and decisions made."""
        return [e for e in self.seen if e.kind in ("control_received", "control_decided")]

    def trace(self) -> list[Event]:
        """The trace file (after the writer is closed)."""
        return read_trace(self.folder / "trace.jsonl")


@contextlib.asynccontextmanager
async def held_approval(
    root: Path, *, detail: str = "POST https://shop.test/order name=Ann", **view_options: object
) -> AsyncIterator[Held]:
    folder = root / RUN_ID
    view = WebView([root], **view_options)  # type: ignore[arg-type]
    await view.start()
    control = ControlChannel()
    bus = EventBus(RUN_ID)
    writer = TraceWriter(folder)
    bus.subscribe(writer)
    seen: list[Event] = []
    bus.subscribe(seen.append)
    steering = view.steer(control)
    bus.subscribe(steering.push)
    asked = asyncio.Event()
    bus.subscribe(lambda e: asked.set() if e.kind == "control_requested" else None)
    control.connect(bus)
    bus.emit(RunStarted(task="order the blue mug", agents=["WebSurfer"]))
    decision = asyncio.create_task(
        control.approval("WebSurfer", "submit_form", detail, target="https://shop.test/order")
    )
    await asyncio.wait_for(asked.wait(), 10)
    held = Held(view, control, steering, bus, writer, decision, folder, seen)
    try:
        yield held
    finally:
        decision.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await decision
        await view.stop()
        writer.close()
