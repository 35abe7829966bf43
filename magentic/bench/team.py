"""The real team as a benchmark `run_one`: one `magentic.team.run_task` per (task, repeat).

    async with TeamRunner(config) as run_one:
        code = await bench_main(options, run_one)

Tasks of one bench run share `resources` (long-lived parts such as one browser process, from
which each task takes its own context); `close()` releases them at the end. Each task's run
folder is the runner's workdir, so its trace and workspace stay beside its result.

The answer format below is asked of the orchestrator's final answer unless the config sets
its own: GAIA scores the text after `FINAL ANSWER:` with exact rules, so a correct answer
with a unit or a thousands separator in the wrong place would count as wrong.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from magentic.agents.base import SharedResources
from magentic.bench.runner import TaskOutcome
from magentic.bench.suite import BenchTask

if TYPE_CHECKING:
    from magentic.config import Config
    from magentic.events import Subscriber
    from magentic.orchestrator.outcomes import RunResult
    from magentic.ui.telemetry import Telemetry

log = logging.getLogger(__name__)

# Errors of the model endpoint (ModelError and its kinds): the task errored, it did not fail.
ENDPOINT_ERRORS = {"ModelError", "ReplayMissError", "UnsupportedFeature", "ContextOverflow"}

ANSWER_FORMAT = (
    "end your reply with one line of the form 'FINAL ANSWER: <answer>'. The answer is as "
    "short as possible: a number, a few words, or a list of numbers and/or words separated "
    "by commas. Write numbers with digits, without thousands separators and without units "
    "(no $ or %) unless the question asks for them. Write words without articles or "
    "abbreviations, and digits as digits, unless the question says otherwise. Follow any "
    "format the question gives (rounding, order, date form)."
)


class TeamRunner:
    """`run_one` backed by the whole team; an async context manager that closes shared parts."""

    def __init__(
        self,
        config: Config,
        *,
        telemetry: Telemetry | None = None,
        watchers: Sequence[Subscriber] = (),
    ) -> None:
        if not config.orchestrator.answer_format:
            settings = config.orchestrator.model_copy(update={"answer_format": ANSWER_FORMAT})
            config = config.model_copy(update={"orchestrator": settings})
        self.config = config
        # One exporter for the bench; each task's run gets its own subscriber and trace.
        self.telemetry = telemetry
        self.watchers = list(watchers)  # subscribed to every task's run (a console, a view)
        self.resources = SharedResources()
        if "WebSurfer" in config.agents:
            self._share_one_browser()

    def _share_one_browser(self) -> None:
        """One Chromium for the whole bench run: each task opens its own context in it.

        Launching is lazy (on the first web step), so suites without web tasks pay nothing.
        """
        try:
            from magentic.agents.web_surfer.browser import BrowserPool
        except ModuleNotFoundError:  # Playwright not installed: each task does without the web
            return
        self.resources.browser_pool = BrowserPool(self.config.web)

    async def __call__(self, task: BenchTask, repeat: int, workdir: Path) -> TaskOutcome:
        from magentic.team import run_task  # the whole team's imports, only when a task runs

        files = [task.file_path] if task.file_path is not None else []
        # No control channel: nobody watches a bench, so every action the `[approval]` table
        # would ask about is refused (and recorded), unless the config says `yes`.
        result = await run_task(
            task.question,
            self._config_for(task),
            files=files,
            subscribers=self._subscribers(task, repeat),
            run_dir=workdir,
            resources=self.resources,
        )
        return _outcome(result)

    async def resume(self, task: BenchTask, repeat: int, workdir: Path) -> TaskOutcome | None:
        """Go on with a task a killed bench left in flight, from its run's checkpoint, with
        the config that run recorded. None (start afresh) when there is nothing to go on
        from: no checkpoint, a bad one, a finished run, no budget left; and for a task on a
        suite's site, whose server has a new port in this bench run."""
        from magentic.errors import ConfigError
        from magentic.team import prepare_resume, resume_task

        if task.site_url is not None:
            return None
        try:
            resumption = await asyncio.to_thread(
                functools.partial(prepare_resume, workdir, today=self._config_for(task))
            )
        except ConfigError as error:  # CheckpointError too
            log.info("task %s starts afresh: %s", task.task_id, error.reason)
            return None
        if resumption.finished:
            return None
        resumed = await resume_task(
            resumption, subscribers=self._subscribers(task, repeat), resources=self.resources
        )
        return _outcome(resumed)

    def _subscribers(self, task: BenchTask, repeat: int) -> list[Subscriber]:
        """Who watches one task's run: the bench's watchers, and its own telemetry trace."""
        subscribers: list[Subscriber] = list(self.watchers)
        if self.telemetry is not None:
            attributes = {
                "magentic.bench.suite": task.suite,
                "magentic.bench.task_id": task.task_id,
                "magentic.bench.repeat": repeat,
                "magentic.bench.level": task.level,
            }
            subscribers.append(self.telemetry.for_run(attributes))
        return subscribers

    def _config_for(self, task: BenchTask) -> Config:
        """The config for one task: its suite's own site is let through the URL policy.

        The site server listens on 127.0.0.1, which the browser refuses by default; only
        that host and port are allowed, so the rest of the machine stays out of reach.
        """
        if task.site_url is None:
            return self.config
        host = urlsplit(task.site_url).netloc
        web = self.config.web
        if host in web.url_policy.allow:
            return self.config
        policy = web.url_policy.model_copy(update={"allow": [*web.url_policy.allow, host]})
        web = web.model_copy(update={"url_policy": policy})
        return self.config.model_copy(update={"web": web})

    async def close(self) -> None:
        """Close what the tasks shared; send the spans still batched (off the event loop)."""
        try:
            await self.resources.aclose()
        finally:
            if self.telemetry is not None:
                await asyncio.to_thread(self.telemetry.close)

    async def __aenter__(self) -> TeamRunner:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


def _outcome(result: RunResult) -> TaskOutcome:
    return TaskOutcome(
        answer=result.answer,
        status=result.status,
        stop_reason=result.stop_reason,
        rounds=result.rounds,
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
        cost=result.cost,
        trace_path=Path(result.trace_path) if result.trace_path else None,
        error=result.stop_reason if result.error_type in ENDPOINT_ERRORS else None,
        failed_calls=result.failed_calls,
    )
