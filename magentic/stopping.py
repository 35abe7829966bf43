"""Ending a run on SIGTERM or Ctrl-C, whatever its threads are doing.

The first SIGTERM or Ctrl-C cancels the run's main task: the run's finally blocks close the
browser and the sandbox and the trace gets its `run_finished` line. That is enough unless
something cannot be cancelled: a thread stuck in a library call (a thread cannot be killed,
and Python waits for it at exit) or the event loop itself blocked. So the first signal also
arms a watchdog: if the process has not ended `grace_s` seconds later (or a second signal
comes), it finishes every open trace, runs the exit hooks (the Docker sandbox's container
removal) for at most a few seconds, says so in one line on stderr and exits at once with the
usual code (130 for Ctrl-C, 143 for SIGTERM). A batch scheduler's SIGTERM-then-SIGKILL thus
always finds the process gone, with its trace whole.

With a person at the console (a console face attached to the run's control channel), a
Ctrl-C is first a request to pause at the next safe point (`on_interrupt`); a Ctrl-C while
that pause is asked for or held is the first signal above. SIGTERM is never a pause.

The same module quiets the event loop at exit: whatever asyncio would print about tasks left
behind, and Python's "Exception ignored in ..." for transports collected after the loop
closed, go to the log at debug level, never as a traceback on stderr.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)

GRACE_ENV = "MAGENTIC_STOP_GRACE_S"
DEFAULT_GRACE_S = 10.0
EXIT_CODES: dict[int, int] = {signal.SIGINT: 130, signal.SIGTERM: 143}
_NAMES: dict[int, str] = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}


def grace_seconds() -> float:
    try:
        return max(0.1, float(os.environ.get(GRACE_ENV, DEFAULT_GRACE_S)))
    except ValueError:
        return DEFAULT_GRACE_S


class Stopper:
    """The signal handlers and the watchdog of one `run_until_stopped` call."""

    def __init__(self, grace_s: float, on_interrupt: Callable[[], bool] | None = None) -> None:
        self.grace_s = grace_s
        self.on_interrupt = on_interrupt
        self.signum: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self._previous: dict[int, Any] = {}
        self._exiting = threading.Lock()

    def install(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any]) -> None:
        """Take SIGTERM and SIGINT (main thread only; elsewhere nothing is installed)."""
        self._loop, self._task = loop, task
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in EXIT_CODES:
            self._previous[signum] = signal.signal(signum, self._on_signal)

    def restore(self) -> None:
        """Give the signals back, unless one came: then the process is ending, and a second
        signal must still find the hard exit (with its exit hooks), not the default action."""
        if self.signum is not None:
            return
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _on_signal(self, signum: int, frame: object) -> None:
        if self.signum is not None:  # a second signal: no more waiting
            self.hard_exit(f"{_NAMES.get(signum, signum)} a second time")
            return
        if signum == signal.SIGINT and self._interrupt_taken():
            return  # a person is there: this Ctrl-C asked for a pause, not an end
        self.signum = signum
        if self._loop is not None and self._task is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._task.cancel)
        watchdog = threading.Timer(
            self.grace_s,
            self.hard_exit,
            args=(f"{_NAMES.get(signum, signum)}, and still running {self.grace_s:g} s later",),
        )
        watchdog.daemon = True
        watchdog.name = "magentic-stop-watchdog"
        watchdog.start()

    def _interrupt_taken(self) -> bool:
        if self.on_interrupt is None:
            return False
        try:
            return self.on_interrupt()
        except Exception:  # a face's bug must not make Ctrl-C useless
            log.debug("the interrupt hook failed", exc_info=True)
            return False

    def hard_exit(self, why: str) -> None:
        """Finish the traces, run the exit hooks (bounded) and leave now."""
        if not self._exiting.acquire(blocking=False):
            return
        signum = self.signum or signal.SIGTERM
        reason = f"stopped: {why}, so the process exited without waiting for it"
        _bounded(lambda: _finish_traces(reason), 3.0)
        _bounded(_run_exit_hooks, 5.0)
        _say(f"magentic: {why}; exiting without waiting further\n")
        os._exit(EXIT_CODES.get(signum, 143))


def run_until_stopped(
    work: Coroutine[Any, Any, T],
    *,
    grace_s: float | None = None,
    on_interrupt: Callable[[], bool] | None = None,
) -> T:
    """asyncio.run(work), ended by SIGTERM or Ctrl-C as the module docstring says.

    `on_interrupt` is asked first on a Ctrl-C while no signal has been taken yet: it returns
    True when it took the signal (a console face asked the run to pause), and the run goes
    on; it returns False, or is not given, and the signal ends the run as usual.

    Raises KeyboardInterrupt after Ctrl-C and asyncio.CancelledError after SIGTERM, once the
    work has unwound.
    """
    stopper = Stopper(grace_seconds() if grace_s is None else grace_s, on_interrupt)
    sys.unraisablehook = quiet_unraisable  # for the rest of the process: it is ending

    async def main() -> T:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(quiet_exception_handler)
        task = asyncio.current_task()
        assert task is not None
        stopper.install(loop, task)
        return await work

    try:
        return asyncio.run(main())
    except asyncio.CancelledError:
        if stopper.signum == signal.SIGINT:
            raise KeyboardInterrupt from None
        raise
    finally:
        stopper.restore()


def quiet_exception_handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """What asyncio would print (a task destroyed while pending, an exception nobody awaited,
    a transport closed late) goes to the log at debug level instead."""
    exc = context.get("exception")
    log.debug("event loop: %s", context.get("message", "unhandled"), exc_info=exc if exc else None)


def quiet_unraisable(info: Any) -> None:
    """What Python would print as "Exception ignored in ..." (a subprocess transport or a
    pipe collected after its event loop closed) goes to the log at debug level instead."""
    log.debug(
        "ignored at exit in %r: %s",
        info.object,
        info.err_msg or "",
        exc_info=(info.exc_type, info.exc_value, info.exc_traceback)
        if info.exc_value is not None
        else None,
    )


def _bounded(action: Any, seconds: float) -> None:
    """Run `action` in a daemon thread and give up on it after `seconds`."""
    helper = threading.Thread(target=_quietly, args=(action,), daemon=True)
    helper.start()
    helper.join(seconds)


def _quietly(action: Any) -> None:
    try:
        action()
    except BaseException:  # a hard exit must go on whatever a hook does
        log.debug("exit step failed", exc_info=True)


def _finish_traces(reason: str) -> None:
    writer = sys.modules.get("magentic.trace.writer")
    if writer is not None:
        writer.finish_all(reason)


def _run_exit_hooks() -> None:
    atexit._run_exitfuncs()


def _say(text: str) -> None:
    try:
        os.write(2, text.encode("utf-8", "backslashreplace"))
    except OSError:
        pass
