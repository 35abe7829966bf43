"""The live console: a run's state redrawn in place on a terminal, from its events.

`LiveState` folds events into what a watcher wants at a glance (the task, the plan with the
step in progress, the last progress judgement, the agent at work, the model's text as it
streams, tokens and cost per role, elapsed time) and renders it with rich, fitted to the
terminal's width (readable at 80 columns). `LiveConsole` subscribes to a run's bus, keeps the
state, prints the plain console's lines above the live area (so the history scrolls back as
usual) and redraws from rich's refresh thread: handling an event only updates the state.

Used by `magentic run` when stderr is a terminal; pipes, `--quiet` and `--json` keep the
plain lines of `console.py`. The answer still goes to stdout alone.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from magentic.events import (
    AgentActed,
    AgentReplied,
    Delegated,
    Event,
    LedgerUpdated,
    ModelCalled,
    ModelCallFailed,
    ModelDelta,
    ProgressAssessed,
    Replanned,
    RunFinished,
    RunStarted,
    Stalled,
)
from magentic.ui.console import ConsolePrinter

_STREAM_TAIL = 600  # characters of streamed text kept for display
_STREAM_LINES = 4


def _flat(text: str) -> str:
    return " ".join(text.split())


@dataclass
class RoleUse:
    calls: int = 0
    tokens: int = 0
    cost: float = 0.0


@dataclass
class LiveState:
    """What the live console shows, folded from a run's events (no I/O, no rich objects)."""

    task: str = ""
    plan: list[str] = field(default_factory=list)
    replan: int = 0
    step: int | None = None  # index into `plan` of the step in progress
    round: int = 0
    progress: dict[str, Any] = field(default_factory=dict)
    stall_count: int = 0
    agent: str = ""
    instruction: str = ""
    last_action: str = ""
    streaming_role: str = ""
    streamed: str = ""
    roles: dict[str, RoleUse] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    finished: RunFinished | None = None

    def update(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.task = event.task
            self.started = event.t
        elif isinstance(event, LedgerUpdated):
            self.replan = event.replan
            self.plan = [line.strip() for line in event.plan.splitlines() if line.strip()]
            self.step = None
        elif isinstance(event, ProgressAssessed):
            self.round = event.round
            self.progress = event.ledger
            self.stall_count = event.stall_count
        elif isinstance(event, Stalled):
            self.stall_count = event.stall_count
        elif isinstance(event, Replanned):
            self.replan = event.replan
        elif isinstance(event, Delegated):
            self.round = event.round
            self.agent = event.agent
            self.instruction = event.instruction
            self.last_action = ""
            self.step = self._step_of(event.agent)
        elif isinstance(event, AgentActed):
            outcome = f"failed: {event.error}" if event.error else event.result
            self.last_action = f"{event.action} {_flat(outcome)}".strip()
        elif isinstance(event, AgentReplied):
            self.last_action = f"replied: {_flat(event.text)}"
        elif isinstance(event, ModelDelta):
            if event.role != self.streaming_role or event.chars == len(event.text):
                self.streamed = ""  # a new call (or a retry) starts its text afresh
            self.streaming_role = event.role
            self.streamed = (self.streamed + event.text)[-_STREAM_TAIL:]
        elif isinstance(event, ModelCalled):
            use = self.roles.setdefault(event.role, RoleUse())
            use.calls += 1
            use.tokens += event.prompt_tokens + event.completion_tokens
            use.cost += event.cost
        elif isinstance(event, ModelCallFailed):
            self.streamed = ""
        elif isinstance(event, RunFinished):
            self.finished = event

    def _step_of(self, agent: str) -> int | None:
        """The first plan step for this agent from the current step on (plans are written
        as `N. Agent: action`); the current step when none is."""
        start = self.step or 0
        for index in range(start, len(self.plan)):
            if _step_agent(self.plan[index]) == agent:
                return index
        return self.step

    # Rendering ----------------------------------------------------------------------------
    def render(self, now: float | None = None) -> RenderableType:
        now = time.time() if now is None else now
        parts: list[RenderableType] = [self._head(now)]
        if self.plan:
            parts.append(self._plan())
        parts.append(self._work())
        if self.roles:
            parts.append(self._usage())
        return Group(*parts)

    def _head(self, now: float) -> RenderableType:
        seconds = (self.finished.seconds if self.finished else now - self.started) or 0.0
        status = self.finished.status if self.finished else f"round {self.round}"
        title = Text.assemble(("magentic ", "bold"), (f"{status} · {seconds:.0f} s", "dim"))
        return Panel(Text(_flat(self.task), overflow="fold"), title=title, title_align="left")

    def _plan(self) -> RenderableType:
        lines = Text()
        for index, step in enumerate(self.plan[:12]):
            current = index == self.step
            mark = "▶ " if current else "  "
            if index:
                lines.append("\n")
            lines.append(mark + step, style="bold" if current else "")
        if len(self.plan) > 12:
            lines.append(f"\n  … {len(self.plan) - 12} more", style="dim")
        label = "plan" if self.replan == 0 else f"plan #{self.replan}"
        return Panel(lines, title=label, title_align="left")

    def _work(self) -> RenderableType:
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column(overflow="fold")
        if self.progress:
            grid.add_row("judged", self._judgement())
        if self.agent:
            grid.add_row("agent", Text(self.agent, style="bold"))
            grid.add_row("asked", Text(_clip(self.instruction, 240)))
        if self.last_action:
            grid.add_row("did", Text(_clip(self.last_action, 160)))
        if self.streamed:
            grid.add_row(self.streaming_role or "model", Text(self._stream_tail()))
        if self.finished is not None:
            grid.add_row("stopped", Text(_clip(self.finished.stop_reason, 160)))
        return Panel(grid, title="now", title_align="left")

    def _judgement(self) -> Text:
        def answer(key: str) -> str:
            value = self.progress.get(key)
            if isinstance(value, dict):
                value = value.get("answer")
            return "yes" if value is True else "no" if value is False else "?"

        return Text(
            f"progress {answer('is_progress_being_made')} · loop {answer('is_in_loop')} · "
            f"stalls {self.stall_count}"
        )

    def _stream_tail(self) -> str:
        lines = [line for line in self.streamed.splitlines() if line.strip()]
        return "\n".join(line[-160:] for line in lines[-_STREAM_LINES:])

    def _usage(self) -> RenderableType:
        table = Table(box=None, padding=(0, 1), show_edge=False)
        table.add_column("role", style="dim")
        table.add_column("calls", justify="right")
        table.add_column("tokens", justify="right")
        table.add_column("cost", justify="right")
        total = RoleUse()
        for role, use in sorted(self.roles.items()):
            table.add_row(role, str(use.calls), f"{use.tokens:,}", f"${use.cost:.4f}")
            total.calls += use.calls
            total.tokens += use.tokens
            total.cost += use.cost
        table.add_row("all", str(total.calls), f"{total.tokens:,}", f"${total.cost:.4f}")
        return Panel(table, title="model use", title_align="left")


def _step_agent(line: str) -> str:
    body = line.split(".", 1)[1] if line[:1].isdigit() and "." in line else line
    return body.split(":", 1)[0].strip()


def _clip(text: str, limit: int) -> str:
    flat = _flat(text)
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class LiveConsole:
    """A bus subscriber that keeps `LiveState` and shows it with rich's `Live` on stderr.

    Use as a context manager around the run. The plain console's lines are printed above
    the live area, so what happened stays in the terminal's scrollback."""

    def __init__(self, console: Console | None = None, *, verbose: bool = False) -> None:
        self.console = console or Console(stderr=True)
        self.state = LiveState()
        self.lines = ConsolePrinter(verbose=verbose)
        self._lock = threading.Lock()
        self._live = Live(
            console=self.console,
            get_renderable=self._renderable,
            refresh_per_second=8,
            transient=False,
            redirect_stdout=False,  # stdout is the answer's alone
        )

    def _renderable(self) -> RenderableType:
        with self._lock:  # rich redraws from its own thread
            return self.state.render()

    def __call__(self, event: Event) -> None:
        with self._lock:
            self.state.update(event)
        line = self.lines.render(event)
        if line:
            self.console.print(Text(line), highlight=False)

    def __enter__(self) -> LiveConsole:
        self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.stop()

    def note(self, text: str) -> None:
        """A line from outside the run's events (a face's word), above the live area."""
        self.console.print(Text(text), highlight=False)

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Take the live area off the screen while a person answers at the console (see
        `console_face`): rich's redraws would write over the prompt and the typing. Lines
        printed meanwhile still appear, as plain lines; the area comes back afterwards."""
        if not self._live.is_started:
            yield
            return
        self._live.transient = True  # stopping erases the area instead of leaving a copy
        self._live.stop()
        self._live.transient = False
        try:
            yield
        finally:
            self._live.vertical_overflow = "ellipsis"
            self._live.start()
