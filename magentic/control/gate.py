"""The approval gate agents pass before a guarded action: the `[approval]` policy first,
then, for "ask", a person through the control channel.

Agents call `check` with the action's kind and the exact action as a person would read it;
they get a Decision whose `reason` they tell their model when the answer is no. Allowed
actions leave no event (they are the agent's own `agent_acted` record); everything else is a
request and a decision in the trace.
"""

from __future__ import annotations

from collections.abc import Sequence

from magentic.control.channel import ControlChannel, Decision
from magentic.control.settings import ApprovalSettings, Rule
from magentic.events import Attachment


class ApprovalGate:
    def __init__(self, settings: ApprovalSettings, channel: ControlChannel) -> None:
        self.settings = settings
        self.channel = channel

    def rule(self, kind: str, key: str = "") -> Rule:
        return self.settings.rule_for(kind, key)

    async def check(
        self,
        kind: str,
        agent: str,
        detail: str,
        *,
        target: str = "",
        key: str = "",
        rule: Rule | None = None,
        attachments: Sequence[Attachment] = (),
    ) -> Decision:
        """May `agent` take this action? `rule` overrides the table's (an agent that knows
        better, e.g. the terminal on the unsandboxed executor)."""
        rule = rule or self.rule(kind, key)
        if rule == "allow":
            return Decision(True, "policy")
        if rule == "deny":
            return self.channel.record_policy(
                agent,
                kind,
                detail,
                target=target,
                allowed=False,
                reason=f"the [approval] rule for {kind} is deny",
            )
        if self.settings.yes:
            return self.channel.record_policy(
                agent,
                kind,
                detail,
                target=target,
                allowed=True,
                reason="--yes allows every action that would ask",
            )
        return await self.channel.approval(
            agent, kind, detail, target=target, attachments=attachments
        )
