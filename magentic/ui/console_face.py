"""The console as a face on the run's control channel (see `magentic.control`).

It reads requests from the events it subscribes to and answers with commands; it never calls
into the orchestrator. One conversation at a time, on stderr, answered on stdin (read without
blocking the loop, so the run's other work and its trace go on while a person thinks):

- **plan review**: Enter (or ok, yes, y, approve) approves; `e` edits (all steps retyped,
  or `$EDITOR` on a temp file); any other words are a comment the plan is redone with.
- **approval**: `y` allows; `n` and an optional reason denies.
- **question** (the User agent): the person's words are the answer.
- **paused** (after a Ctrl-C): Enter resumes; `e` edits the plan; `s` stops; any other words
  are guidance, handed to the orchestrator as the user's when the run goes on.

An answer that fits none of these is asked again. A request answered elsewhere (the web view)
ends its prompt here. At the end of input the face detaches: from then on nobody is there.

While it asks, the live display (`live.LiveConsole`) is held: rich's redraws would otherwise
write over the prompt and the person's typing. The plain printer writes whole lines only and
needs no holding.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shlex
import sys
import tempfile
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, Protocol, TextIO

from magentic.control.channel import ControlChannel
from magentic.control.commands import (
    Approve,
    Command,
    Deny,
    EditPlan,
    Guide,
    Pause,
    Resume,
    Stop,
)
from magentic.errors import ControlError
from magentic.events import (
    ControlDecided,
    ControlReceived,
    ControlRequested,
    Event,
    LedgerUpdated,
    Paused,
    RunFinished,
    Unpaused,
)
from magentic.ui.line_reader import LineReader

log = logging.getLogger(__name__)

FACE = "console"
_NUMBERED = re.compile(r"^\s*\d+[.)]\s*")


class Display(Protocol):
    """A display that redraws in place and must be held while the person types."""

    def hold(self) -> contextlib.AbstractContextManager[None]: ...

    def note(self, text: str) -> None: ...


def plan_steps(plan: str) -> list[str]:
    """Steps of a rendered plan ("1. Agent: action" lines) without their numbers."""
    return [_NUMBERED.sub("", line).strip() for line in plan.splitlines() if line.strip()]


# What approves a plan at the review prompt (also with a full stop or "!" after it).
APPROVING = frozenset({"", "a", "y", "yes", "ok", "okay", "approve", "approved", "lgtm"})


class ConsoleFace:
    def __init__(
        self,
        control: ControlChannel,
        *,
        stdin: TextIO | None = None,
        out: TextIO | None = None,
        display: Display | None = None,
        editor: str | None = None,
    ) -> None:
        self.control = control
        self.reader = LineReader(stdin or sys.stdin)
        self.out = out or sys.stderr
        self.display = display
        self.editor = editor if editor is not None else os.environ.get("EDITOR", "")
        self.plan: list[str] = []
        self.pause_asked = False  # a Ctrl-C asked for a pause that has not ended yet
        self._turn = asyncio.Lock()
        self._holding = 0
        self._prompting = False  # a prompt is on the screen, waiting for a line
        self._tasks: dict[str, asyncio.Task[None]] = {}

    # Presence ------------------------------------------------------------------------------
    def attach(self) -> None:
        self.control.attach(FACE)

    def detach(self) -> None:
        self.control.detach(FACE)

    @property
    def attached(self) -> bool:
        return FACE in self.control.faces

    def interrupt(self) -> bool:
        """The first Ctrl-C (called from the signal handler): ask for a pause and say True;
        False when the signal should stop the run (no face here, or a pause already asked)."""
        if not self.attached or self.pause_asked or self.control.paused:
            return False
        try:
            self.control.send_threadsafe(Pause(), face=FACE)
        except ControlError:  # the run's loop is not there (yet, or any more): stop as usual
            return False
        self.pause_asked = True  # (nothing is written here: a signal handler must not print)
        return True

    # Events --------------------------------------------------------------------------------
    def __call__(self, event: Event) -> None:
        if isinstance(event, LedgerUpdated):
            self.plan = plan_steps(event.plan)
        elif isinstance(event, ControlRequested) and self.attached:
            self._start(event.request_id, self._answer(event))
        elif isinstance(event, ControlReceived) and event.command.get("kind") == "pause":
            self._say("\n⏸ pausing at the next safe point (Ctrl-C again stops the run)")
        elif isinstance(event, ControlDecided):
            self._end(event.request_id)
        elif isinstance(event, Paused) and self.attached:
            self._start("paused", self._paused(event.where))
        elif isinstance(event, Unpaused):
            self.pause_asked = False
            self._end("paused")
        elif isinstance(event, RunFinished):
            for key in list(self._tasks):
                self._end(key)

    def _start(self, key: str, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(self._guarded(key, work))
        self._tasks[key] = task

    def _end(self, key: str) -> None:
        """The request was settled (here or elsewhere): its prompt goes away."""
        task = self._tasks.pop(key, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _guarded(self, key: str, work: Coroutine[Any, Any, None]) -> None:
        try:
            async with self._turn:
                with self._held():  # the whole conversation, not each line of it
                    await work
        except asyncio.CancelledError:
            if self._prompting:  # the prompt stands unanswered on the screen: close it
                self._prompting = False
                self._say("\n(settled elsewhere)")
        except Exception:  # a face's bug must not end the run; the request stays open
            log.exception("the console face failed on %s", key)
        finally:
            work.close()  # cancelled while waiting its turn: it never started, and never will
            if self._tasks.get(key) is asyncio.current_task():
                del self._tasks[key]

    # Conversations -------------------------------------------------------------------------
    async def _answer(self, event: ControlRequested) -> None:
        if event.request == "plan_review":
            await self._review(event)
        elif event.request == "approval":
            await self._approve(event)
        else:
            await self._question(event)

    async def _review(self, event: ControlRequested) -> None:
        steps = plan_steps(event.detail)
        lines = [f"── review the plan ({event.request_id}) ──"]
        lines += [f"  {n}. {step}" for n, step in enumerate(steps, 1)]
        lines.append("[Enter] or ok approves · [e] edit · or type a comment to replan with")
        while True:
            answer = await self._ask("\n".join(lines), "plan> ")
            if answer is None:
                return
            word = answer.strip()
            if word.lower().rstrip(".!") in APPROVING:
                command: Command = Approve(request_id=event.request_id)
            elif word.lower() in ("e", "edit"):
                new = await self._edit(steps)
                if new is None:
                    return
                if not new:
                    lines = ["The plan cannot be empty. Review it again:", *lines[1:]]
                    continue
                command = EditPlan(steps=new)
            elif len(word) < 3:
                lines = [f"{word!r} is not an answer here.", lines[-1]]
                continue
            else:
                command = Deny(request_id=event.request_id, reason=word)
            if self._send(command, event.request_id):
                return

    async def _approve(self, event: ControlRequested) -> None:
        lines = [f"── {event.agent or 'an agent'} asks to {event.action} ({event.request_id}) ──"]
        if event.target:
            lines.append(f"  on: {event.target}")
        lines += [f"  {line}" for line in event.detail.splitlines()[:20]]
        for attachment in event.attachments:
            lines.append(f"  (with {attachment.name}, shown in the trace and the web view)")
        lines.append("Allow it? [y] yes · [n REASON] no")
        while True:
            answer = await self._ask("\n".join(lines), "allow> ")
            if answer is None:
                return
            word, _, reason = answer.strip().partition(" ")
            if word.lower() in ("y", "yes"):
                command: Command = Approve(request_id=event.request_id, reason=reason.strip())
            elif word.lower() in ("n", "no"):
                command = Deny(request_id=event.request_id, reason=reason.strip())
            else:
                lines = ["Please answer y, or n and a reason.", lines[-1]]
                continue
            if self._send(command, event.request_id):
                return

    async def _question(self, event: ControlRequested) -> None:
        text = f"── {event.agent or 'the team'} asks you ({event.request_id}) ──\n{event.detail}"
        while True:
            answer = await self._ask(text, "answer> ")
            if answer is None:
                return
            if answer.strip():
                if self._send(Guide(text=answer.strip()), event.request_id):
                    return
                continue
            text = "An empty answer tells the team nothing; please type your answer."

    async def _paused(self, where: str) -> None:
        text = (
            f"⏸ paused {where}. [Enter] resume · [e] edit the plan · [s] stop · "
            "or type guidance for the team"
        )
        while True:
            answer = await self._ask(text, "paused> ")
            if answer is None:
                return
            word = answer.strip()
            if word.lower() in ("", "r", "resume"):
                self._send(Resume())
                return
            if word.lower() in ("s", "stop"):
                self._send(Stop(reason="stopped at the console"))
                return
            if word.lower() in ("e", "edit"):
                new = await self._edit(self.plan)
                if new:
                    self._send(EditPlan(steps=new))
                    self.plan = new
                    text = "The new plan is taken. [Enter] resume · [e] edit · [s] stop · or guide"
                else:
                    text = "The plan was left as it was. [Enter] resume · [e] edit · [s] stop"
                continue
            if len(word) < 3:
                text = f"{word!r} is not an answer here. [Enter] resume · [e] edit · [s] stop"
                continue
            self._send(Guide(text=word))
            text = "Noted; the team reads it when the run goes on. [Enter] resume · or more"

    # Editing a plan ------------------------------------------------------------------------
    async def _edit(self, steps: list[str]) -> list[str] | None:
        """The person's new plan: from $EDITOR when one is set, else typed line by line (a
        line that is only a number copies that step, so steps reorder and drop cheaply).
        None at the end of input."""
        if self.editor:
            edited = await self._edit_in_editor(steps)
            if edited is not None:
                return edited
        self._say(
            "Type the new plan, one step a line (Agent: what to do); a number alone keeps "
            "that step as it is; an empty line ends the plan."
        )
        new: list[str] = []
        while True:
            line = await self._ask("", f"step {len(new) + 1}> ")
            if line is None:
                return None
            line = line.strip()
            if not line:
                return new
            if line.isdigit() and 1 <= int(line) <= len(steps):
                line = steps[int(line) - 1]
            new.append(line)

    async def _edit_in_editor(self, steps: list[str]) -> list[str] | None:
        """Edit the plan in $EDITOR; None (and the line editor instead) if it cannot run."""
        fd, name = tempfile.mkstemp(prefix="magentic-plan-", suffix=".txt")
        path = Path(name)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write("# One step a line (Agent: what to do). Lines starting # are ignored.\n")
                file.write("".join(f"{step}\n" for step in steps))
            with self._held():
                process = await asyncio.create_subprocess_exec(*shlex.split(self.editor), name)
                code = await process.wait()
            if code != 0:
                self._say(f"the editor exited with {code}; the plan is typed here instead")
                return None
            text = await asyncio.to_thread(path.read_text, encoding="utf-8")
        except (OSError, ValueError) as error:
            self._say(f"the editor {self.editor!r} could not run ({error}); type the plan here")
            return None
        finally:
            await asyncio.to_thread(path.unlink, missing_ok=True)
        return [
            _NUMBERED.sub("", line).strip()
            for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]

    # Terminal ------------------------------------------------------------------------------
    async def _ask(self, text: str, prompt: str) -> str | None:
        """Show `text`, read one line. None at the end of input: the face detaches."""
        if text:
            self._say(text)
        self.out.write(prompt)
        self.out.flush()
        self._prompting = True
        line = await self.reader.read_line()
        self._prompting = False
        if line is None:
            self._say("\n(end of input: nobody is asked from here on)")
            self.detach()
        return line

    def _send(self, command: Command, request_id: str = "") -> bool:
        """Give a command; False (and why, on the console) when the channel refused it."""
        if request_id:
            self._tasks.pop(request_id, None)  # settled by us: our own decision must not end us
        try:
            self.control.send(command, face=FACE)
        except ControlError as error:
            self._say(f"not taken: {error.reason}")
            return False
        return True

    @contextlib.contextmanager
    def _held(self) -> Iterator[None]:
        if self.display is None:
            yield
            return
        self._holding += 1
        try:
            with self.display.hold():
                yield
        finally:
            self._holding -= 1

    def _say(self, text: str) -> None:
        if self.display is not None and not self._holding:  # above the live area, not over it
            self.display.note(text.strip("\n"))
            return
        try:
            self.out.write(text + "\n")
            self.out.flush()
        except (OSError, ValueError):
            pass
