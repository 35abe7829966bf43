"""The orchestrator's state to and from a checkpoint: what is taken after each round, and
how a new process puts it back (ledgers, counters, transcript, budgets used, agents).

Kept apart from the loop so `orchestrator.py` stays a short state machine; this module
knows the orchestrator's fields, the checkpoint module knows the file.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from magentic import safe_paths
from magentic.agents.base import Resumable, StepContext, TeamMessage
from magentic.errors import BudgetExceeded
from magentic.events import AgentActed
from magentic.llm.messages import ImagePart
from magentic.llm.usage import Usage, UsageMeter
from magentic.orchestrator.budget import BudgetGuard
from magentic.orchestrator.checkpoint import Checkpoint, Stage, image_ref
from magentic.orchestrator.fallbacks import PlanCursor
from magentic.orchestrator.ledger import TaskLedger
from magentic.orchestrator.settings import Budgets

if TYPE_CHECKING:
    from magentic.orchestrator.orchestrator import Orchestrator

log = logging.getLogger(__name__)


async def capture(o: Orchestrator, stage: Stage) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The orchestrator's state now (between rounds), as plain JSON data, and the images
    its transcript holds, by file name. Lists are copied: the disk write runs in a thread."""
    assert o.checkpoints is not None
    names = o.checkpoints.image_names
    live: dict[int, tuple[ImagePart, str]] = {}
    images: dict[str, bytes] = {}
    entries = []
    for entry in o.transcript.entries:
        refs = []
        for image in entry.images:
            name, ref = image_ref(image, names)
            live[id(image)] = (image, name)
            images[name] = image.data
            refs.append(ref)
        entries.append(
            {
                "source": entry.source,
                "text": entry.text,
                "images": refs,
                "files": [str(f) for f in entry.files],
                "untrusted": entry.untrusted,
            }
        )
    names.clear()  # only the images still in the conversation stay remembered
    names.update(live)
    meter = o.client.meter
    plan = o.ledger.plan
    state = {
        "task": o.ledger.task,
        "stage": stage,
        "status": "running",
        "stop_reason": "",
        "answer": "",
        "rounds": o.rounds,
        "stalls": o.stalls,
        "replans": o.ledger.replans,
        "facts": o.ledger.facts.model_dump(),
        "plan": plan.model_dump() if plan is not None else None,
        "cursor_done": o.cursor.done,
        "cursor_agents": list(o.cursor.agents),
        "transcript": entries,
        "instructions": list(o.instructions),
        "usage": {
            "total": _usage(meter.total),
            "by_role": {role: _usage(u) for role, u in meter.by_role.items()},
            "calls": meter.calls,
            "failed_calls": meter.failed_calls,
        },
        "elapsed_s": round(o.guard.used, 3),  # less the time spent waiting for a person
        "seq": o.events.seq,
        "agents": await _agent_states(o),
        "saved_at": time.time(),
        "journal_bytes": o.client.journal.size if o.client.journal is not None else 0,
        "effects_bytes": o.effects.size if o.effects is not None else 0,
    }
    return state, images


async def _agent_states(o: Orchestrator) -> dict[str, dict[str, Any]]:
    states: dict[str, dict[str, Any]] = {}
    for agent in o.agents:
        if not isinstance(agent, Resumable):
            continue
        try:
            states[agent.name] = await agent.snapshot()
        except Exception as error:  # the run goes on; this agent resumes fresh
            log.warning("the snapshot of %s failed: %s", agent.name, error)
            states[agent.name] = {}
    return states


def _usage(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "cached_tokens": usage.cached_tokens,
        "cost": usage.cost,
    }


def restore(o: Orchestrator, saved: Checkpoint, images: dict[str, bytes]) -> None:
    """Put the orchestrator back where the checkpoint left it (agents apart: `restore_agents`)."""
    o.ledger = TaskLedger(
        task=saved.task,
        facts=saved.facts.model_copy(deep=True),
        plan=saved.plan.model_copy(deep=True) if saved.plan is not None else None,
        replans=saved.replans,
    )
    o.rounds, o.stalls = saved.rounds, saved.stalls
    o.cursor = PlanCursor(saved.cursor_done, list(saved.cursor_agents))
    o.instructions = list(saved.instructions)
    o.transcript.clear()
    for entry in saved.transcript:  # re-added in order: the same rendering, trims included
        o.transcript.add(
            TeamMessage(
                entry.source,
                entry.text,
                [
                    ImagePart(images[r.file], r.mime, r.detail, r.width, r.height)
                    for r in entry.images
                ],
                _inside_run(o, entry.files),
                untrusted=entry.untrusted,
            )
        )
    restore_meter(o.client.meter, saved)


def _inside_run(o: Orchestrator, files: list[str]) -> list[Path]:
    """The files of a saved message that lie in the run's workspace or are its attached
    files, reached through no link: a checkpoint is data, and may name any host path."""
    kept = []
    for name in files:
        found = safe_paths.within(name, [o.workspace], list(o.files))
        if found is None:
            log.warning("a saved message's file %s is outside the run folder; left out", name)
        else:
            kept.append(found)
    return kept


def restore_meter(meter: UsageMeter, saved: Checkpoint) -> None:
    """The run's usage so far, into its (shared) meter, so token and cost budgets go on."""
    used = saved.usage
    meter.total = Usage(**used.total.model_dump())
    meter.by_role = {role: Usage(**u.model_dump()) for role, u in used.by_role.items()}
    meter.calls, meter.failed_calls = used.calls, used.failed_calls


async def restore_agents(o: Orchestrator, saved: Checkpoint, ctx: StepContext) -> None:
    """Each agent's own state back; an agent that cannot restore goes on fresh, said in the
    trace, as a stale agent is better than a dead run."""
    for agent in o.agents:
        state = saved.agents.get(agent.name)
        if not state or not isinstance(agent, Resumable):
            continue
        try:
            await agent.restore(state, ctx)
        except Exception as error:
            log.warning("restoring %s failed: %s", agent.name, error)
            o.events.emit(
                AgentActed(
                    agent=agent.name, action="restore", error=f"{type(error).__name__}: {error}"
                )
            )


def exhausted(saved: Checkpoint, budgets: Budgets) -> str | None:
    """Why these budgets would stop the run at once (they count the whole run, the rounds
    and usage before the resume included), or None when there is room to go on."""
    meter = UsageMeter()
    restore_meter(meter, saved)
    guard = BudgetGuard(budgets, meter)
    guard.start(already=saved.elapsed_s)
    try:
        guard.check(saved.rounds)
    except BudgetExceeded as stop:
        return stop.reason
    return None
