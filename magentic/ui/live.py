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
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
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
    def render(self, now: float | None = None, *, width: int = 80) -> RenderableType:
        """The live area for a terminal `width` columns wide."""
        now = time.time() if now is None else now
        parts: list[RenderableType] = [self._head(now)]
        if self.plan:
            parts.append(self._plan())
        parts.append(self._work(width))
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

    def _work(self, width: int) -> RenderableType:
        rows: list[tuple[str, str, str]] = []  # label, text, style
        if self.progress:
            rows.append(("judged", self._judgement().plain, ""))
        if self.agent:
            rows.append(("agent", self.agent, "bold"))
            rows.append(("asked", _clip(self.instruction, 240), ""))
        if self.last_action:
            rows.append(("did", _clip(self.last_action, 160), ""))
        if self.streamed:
            rows.append((self.streaming_role or "model", self._stream_tail(), ""))
        if self.finished is not None:
            rows.append(("stopped", _clip(self.finished.stop_reason, 160), ""))
        return Panel(_rows(rows, width - 4), title="now", title_align="left")

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
        total = RoleUse()
        lines = [f"{'role':<14}{'calls':>6}{'tokens':>12}{'cost':>11}"]
        for role, use in sorted(self.roles.items()):
            lines.append(_use_line(role, use))
            total.calls += use.calls
            total.tokens += use.tokens
            total.cost += use.cost
        lines.append(_use_line("all", total))
        text = Text("\n".join(lines), overflow="fold", no_wrap=True)
        text.stylize("dim", 0, len(lines[0]))
        return Panel(text, title="model use", title_align="left")


def _use_line(role: str, use: RoleUse) -> str:
    return (
        f"{_clip(role, 13):<14}{use.calls:>6}{use.tokens:>12,}{'$' + format(use.cost, '.4f'):>11}"
    )


def _rows(rows: list[tuple[str, str, str]], width: int) -> Text:
    """Label and value in two columns, the value wrapped under itself: a table's look at a
    fraction of a table's cost (the live area is redrawn several times a second)."""
    label_width = max((len(label) for label, _, _ in rows), default=0)
    room = max(10, width - label_width - 1)
    out = Text(overflow="fold")  # fold what wrapping by characters misjudges (wide glyphs)
    for index, (label, value, style) in enumerate(rows):
        if index:
            out.append("\n")
        out.append(label.ljust(label_width), style="dim")
        lines = [
            piece
            for line in (value.splitlines() or [""])
            for piece in (textwrap.wrap(line, room, break_long_words=True) or [""])
        ]
        pad = "\n" + " " * (label_width + 1)
        out.append(" " + pad.join(lines), style=style)
    return out


def _step_agent(line: str) -> str:
    body = line.split(".", 1)[1] if line[:1].isdigit() and "." in line else line
    return body.split(":", 1)[0].strip()


def _clip(text: str, limit: int) -> str:
    flat = _flat(text)
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class LiveConsole:
    """A bus subscriber that keeps `LiveState` and shows it with rich's `Live` on stderr.

    Use as a context manager around the run. The plain console's lines are printed above
    the live area, so what happened stays in the terminal's scrollback.

    Handling an event only updates the state and queues its line: one drawing thread prints
    the queued lines and redraws, `refresh_per_second` times a second at most, and only
    when something changed (or once a second, for the clock). Printing each line as it came
    would redraw the whole live area per line, as rich must; drawing is the console's whole
    cost, so it is also kept cheap (text laid out by hand rather than rich tables)."""

    def __init__(
        self,
        console: Console | None = None,
        *,
        verbose: bool = False,
        refresh_per_second: float = 4,
    ) -> None:
        self.console = console or Console(stderr=True)
        self.state = LiveState()
        self.lines = ConsolePrinter(verbose=verbose)
        self._lock = threading.Lock()
        self._pending: list[str] = []
        self._changed = False
        self._drawn = 0.0  # time.monotonic() of the last redraw
        self._period = 1.0 / refresh_per_second
        self._stop = threading.Event()
        self._drawer: threading.Thread | None = None
        self._live = Live(
            console=self.console,
            get_renderable=self._renderable,
            auto_refresh=False,  # the drawing thread below refreshes
            transient=False,
            redirect_stdout=False,  # stdout is the answer's alone
        )

    def _renderable(self) -> RenderableType:
        with self._lock:  # the state changes on the event loop's thread
            return self.state.render(width=self.console.width)

    def __call__(self, event: Event) -> None:
        line = self.lines.render(event)
        with self._lock:
            self.state.update(event)
            self._changed = True
            if line:
                self._pending.append(line)

    def _draw(self) -> None:
        """Print the lines queued since the last turn (one print), then redraw."""
        with self._lock:
            lines, self._pending = self._pending, []
            changed, self._changed = self._changed, False
        now = time.monotonic()
        if lines:  # printing above the live area redraws it too
            self.console.print(Text("\n".join(lines)), highlight=False)
        elif changed or now - self._drawn >= 1.0:  # else only the clock moved: once a second
            self._live.refresh()
        else:
            return
        self._drawn = now

    def _drawing(self) -> None:
        while not self._stop.wait(self._period):
            self._draw()

    def __enter__(self) -> LiveConsole:
        self._live.start()
        self._drawer = threading.Thread(target=self._drawing, name="live-console", daemon=True)
        self._drawer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._drawer is not None:
            self._drawer.join()
        self._draw()  # the last lines and the final state
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
