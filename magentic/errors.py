"""One error root for everything magentic raises on purpose.

Errors the model can act on (a bad tool argument, a page that did not load) are returned to
it as observations and never raised this far. What is raised is what ends a step or a run;
the orchestrator turns it into a clean stop with a reason, and the CLI prints one line.
"""

from __future__ import annotations


class MagenticError(Exception):
    """Root of magentic's errors. `reason` is a one-line, user-facing explanation."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConfigError(MagenticError):
    """The configuration or the command line is wrong; exit code 2."""


class CheckpointError(ConfigError):
    """A run folder's checkpoint cannot be resumed (missing, truncated, edited, another
    format version); exit code 2, and the folder is left as it was."""


class ModelError(MagenticError):
    """The model endpoint failed: unreachable, unknown model, bad key, or out of retries."""

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        max_tries: int | None = None,
    ) -> None:
        super().__init__(reason)
        self.status = status
        # A passing fault (rate limit, 5xx, timeout, dropped connection): worth another try,
        # after `retry_after` seconds when the server said so.
        self.retryable = retryable
        self.retry_after = retry_after
        # A cap on the attempts this kind of failure deserves (a deterministic 5xx gets 2).
        self.max_tries = max_tries


class ReplayMissError(ModelError):
    """Replay-only mode met a request that was never recorded."""


class UnsupportedFeature(ModelError):
    """The endpoint refused a feature of the request (JSON schema, tools, list content...).

    `feature` names it; the model client records the step-down for the rest of the run, and
    the caller asks again with a simpler request instead of retrying the same one.
    """

    def __init__(self, reason: str, *, feature: str, status: int | None = None) -> None:
        super().__init__(reason, status=status)
        self.feature = feature


class ModelTimeout(ModelError):
    """The endpoint sent nothing for `timeout_s` (a slow or stuck server)."""


class ContextOverflow(ModelError):
    """A request cannot be made to fit the model's context window; it is never sent."""


class ModelOutputError(MagenticError):
    """The model kept answering in a shape we cannot use, after the bounded re-asks."""

    def __init__(self, reason: str, *, last_output: str = "") -> None:
        super().__init__(reason)
        self.last_output = last_output


class BudgetExceeded(MagenticError):
    """A run budget (rounds, wall time, tokens, cost) ran out."""

    def __init__(self, reason: str, *, budget: str) -> None:
        super().__init__(reason)
        self.budget = budget


class SandboxError(MagenticError):
    """The code sandbox could not start, run or clean up."""


class BrowserError(MagenticError):
    """The browser could not be found, launched or recovered."""


class ControlError(MagenticError):
    """A command from a face (the console, the web view) that cannot be taken: unknown,
    malformed, or about a request that is not open. The face shows it; the run goes on."""


class StoppedByPerson(MagenticError):
    """A person stopped the run through the control channel; it ends with the best answer
    so far, as cancelled."""


# The one error policy for agents' steps ---------------------------------------------------
# Every place that catches an error inside an agent's step (a tool handler, a page read, the
# orchestrator around `agent.step`) asks these two functions, so the same error never ends
# the run at one call site and becomes an observation at another.


def ends_the_step(error: BaseException) -> bool:
    """True for errors no observation can fix, which must propagate to the orchestrator: the
    model endpoint failing (the run cannot think without it), a budget running out, a
    cancellation, and anything that is not an `Exception` (KeyboardInterrupt, SystemExit).
    Everything else (a page that went away, an unreadable file, a bug in one tool) is told to
    the model, which can try another way."""
    if not isinstance(error, Exception):
        return True
    return isinstance(error, (ModelError, BudgetExceeded, StoppedByPerson))


def observation_of(error: BaseException) -> str:
    """The one line a model (and the trace) is told about an error it may act on."""
    if isinstance(error, MagenticError):
        return error.reason
    text = str(error).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(error).__name__}: {first}"[:300] if first else type(error).__name__
