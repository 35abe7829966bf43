"""The approval gate agents pass before a guarded action: the `[approval]` policy first,
then, for "ask", a person through the control channel.

Agents call `check` with the action's kind and the exact action as a person would read it;
they get a Decision whose `reason` they tell their model when the answer is no. Allowed
actions leave no event (they are the agent's own `agent_acted` record) unless the caller
asks for one (`record`: MCP calls, and what a page sent on its own); everything else is a
request and a decision in the trace, with the attachments (a web action's screenshot).

Attachments may be given as a function that makes them: a screenshot costs a tenth of a
second, and most actions are allowed without a word, so it is taken only when the request
is recorded.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence

from magentic.control.channel import ControlChannel, Decision
from magentic.control.settings import STRICTNESS, ApprovalSettings, Rule
from magentic.events import Attachment

Attachments = Sequence[Attachment] | Callable[[], Awaitable[Sequence[Attachment]]]


class ApprovalGate:
    def __init__(self, settings: ApprovalSettings, channel: ControlChannel) -> None:
        self.settings = settings
        self.channel = channel

    def rule(self, kind: str, key: str = "") -> Rule:
        return self.settings.rule_for(kind, key)

    def strictest(self, kinds: Sequence[str], key: str = "") -> tuple[str, Rule]:
        """Of one action's kinds, the one whose rule is strictest (the first on a tie, so
        callers list the most specific kind first), and that rule."""
        if not kinds:
            return "", "allow"
        kind = max(kinds, key=lambda k: STRICTNESS[self.rule(k, key)])
        return kind, self.rule(kind, key)

    async def check(
        self,
        kind: str,
        agent: str,
        detail: str,
        *,
        target: str = "",
        key: str = "",
        rule: Rule | None = None,
        rule_name: str | None = None,
        attachments: Attachments = (),
        record: bool = False,
    ) -> Decision:
        """May `agent` take this action? `rule` overrides the table's (an agent that knows
        better, e.g. the terminal on the unsandboxed executor), and `rule_name` is then the
        setting a denial names. `record`: an allow is recorded too, without attachments (MCP
        calls, whose effects the run cannot see, and what a page sent on its own: every
        decision of the browser's hold is in the trace)."""
        rule = rule or self.rule(kind, key)
        name = rule_name or self.settings.rule_key(kind, key)
        if rule == "allow":
            if not record:
                return Decision(True, "policy")
            return self.channel.record_policy(
                agent,
                kind,
                detail,
                target=target,
                allowed=True,
                reason=f"the [approval] rule {name} is allow",
            )
        files = await _made(attachments)
        if rule == "deny":
            return self.channel.record_policy(
                agent,
                kind,
                detail,
                target=target,
                allowed=False,
                reason=f"the [approval] rule {name} is deny",
                attachments=files,
            )
        if self.settings.yes:
            return self.channel.record_policy(
                agent,
                kind,
                detail,
                target=target,
                allowed=True,
                reason="--yes allows every action that would ask",
                attachments=files,
            )
        return await self.channel.approval(agent, kind, detail, target=target, attachments=files)


async def _made(attachments: Attachments) -> Sequence[Attachment]:
    if callable(attachments):
        made = attachments()
        return await made if inspect.isawaitable(made) else made
    return attachments
