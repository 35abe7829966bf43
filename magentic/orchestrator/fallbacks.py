"""Safe choices for when the model gives nothing usable: a plan built from the task, the next
plan step not yet done, and no turn for the ComputerTerminal without code to run.

A small model may fail to plan or to judge progress at all; the run should still go where a
person would send it: attached files to the FileSurfer, URLs and "on the web" to the
WebSurfer, computation to the Coder and then the ComputerTerminal.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from magentic.agents.base import TeamMessage
from magentic.orchestrator.ledger import Plan, PlanStep

TERMINAL = "ComputerTerminal"
CODER = "Coder"
_CODE_FENCE = re.compile(r"```[ \t]*(python|py|python3|sh|bash|shell)\b", re.IGNORECASE)
_WEB = re.compile(
    r"https?://|www\.|\bon the web\b|\bwebsite\b|\bweb ?page\b|\bonline\b|\bsearch\b|"
    r"\blook up\b|\bwikipedia\b|\bbrowse\b",
    re.IGNORECASE,
)
_FILE = re.compile(
    r"\battached\b|\bthe file\b|\bspreadsheet\b|\b\w+\.(xlsx|xls|csv|pdf|docx|pptx|txt|json|"
    r"zip|png|jpg|mp3|wav)\b",
    re.IGNORECASE,
)
_COMPUTE = re.compile(
    r"\bcompute\b|\bcalculate\b|\bsum\b|\bhow many\b|\baverage\b|\bmean\b|\btotal\b|"
    r"\bcount\b|\bprime\b|\bsquare|\bproduct\b|\bplot\b|\bchart\b|\bprogram\b|\bcode\b|"
    r"\d+\s*[-+*/^]\s*\d+",
    re.IGNORECASE,
)


def default_plan(task: str, team: Sequence[str], has_files: bool) -> Plan:
    """A plan from the task's words, using only agents on the team."""
    on_team = set(team)
    steps: list[PlanStep] = []
    if (has_files or _FILE.search(task)) and "FileSurfer" in on_team:
        steps.append(
            PlanStep(agent="FileSurfer", action="Open the task's files and report what they say.")
        )
    if _WEB.search(task) and "WebSurfer" in on_team:
        steps.append(
            PlanStep(agent="WebSurfer", action=f"Find on the web what the task needs: {task}")
        )
    if _COMPUTE.search(task) and CODER in on_team:
        steps.append(
            PlanStep(
                agent=CODER,
                action=f"Write a Python program that computes and prints the answer to: {task}",
            )
        )
        if TERMINAL in on_team:
            steps.append(PlanStep(agent=TERMINAL, action="Run the Coder's program and report."))
    if not steps:
        first = next((name for name in team if name != TERMINAL), team[0])
        steps.append(PlanStep(agent=first, action=f"Work on the task: {task}"))
    return Plan(steps=steps, lessons="")


def match_agents(plan: Plan, team: Sequence[str]) -> Plan:
    """The plan with its agent names spelled as the team spells them ("coder" -> Coder)."""
    by_key = {"".join(name.split()).lower(): name for name in team}
    for step in plan.steps:
        step.agent = by_key.get("".join(step.agent.split()).lower(), step.agent)
    return plan


def code_pending(entries: Sequence[TeamMessage]) -> bool:
    """Whether a fenced python or shell block was written since the terminal last ran."""
    for entry in reversed(entries):
        if entry.source == TERMINAL:
            return False
        if entry.source != "orchestrator" and _CODE_FENCE.search(entry.text):
            return True
    return False


@dataclass
class PlanCursor:
    """Which plan step comes next, counted from the last (re)plan."""

    done: int = 0
    agents: list[str] = field(default_factory=list)

    def reset(self, plan: Plan | None) -> None:
        self.done = 0
        self.agents = [step.agent for step in plan.steps] if plan else []

    def delegated(self, agent: str) -> None:
        """An agent took its turn: when it was the next step's agent, that step is done."""
        if self.done < len(self.agents) and self.agents[self.done] == agent:
            self.done += 1

    def next_step(
        self, plan: Plan | None, team: Sequence[str], code_ready: bool
    ) -> PlanStep | None:
        """The next step not yet done whose agent is on the team and can act now."""
        steps = plan.steps if plan else []
        if not steps:
            return None
        start = min(self.done, len(steps) - 1)
        for index in range(start, len(steps)):
            step = steps[index]
            if step.agent not in team:
                continue
            if step.agent == TERMINAL and not code_ready:
                continue
            return step
        # Everything left needs code that is not there: the step that writes it, if any.
        if CODER in team:
            coder = next((s for s in steps if s.agent == CODER), None)
            return coder or PlanStep(agent=CODER, action="Write the code the plan needs.")
        return next((s for s in reversed(steps) if s.agent in team and s.agent != TERMINAL), None)
