"""The User agent: the person who gave the task, as a teammate the orchestrator can ask.

The orchestrator delegates to it to clarify what the task means, or to have the person do
what only they should do, such as signing in or passing a check in the headed browser, and
say when it is done. The question goes out through the run's control channel (`ask` a person
at whichever face is attached); the answer comes back as the User's reply. With nobody
there (a pipe, a bench) it replies at once that no one can answer, so the run goes on.
"""

from __future__ import annotations

from magentic.agents.base import AgentReply, BaseAgent, StepContext

NOBODY_THERE = (
    "No one is there to answer: this run is unattended. Go on without the user's help, "
    "making the most reasonable assumption and saying in the answer which one you made."
)


class UserAgent(BaseAgent):
    name = "User"
    description = (
        "The person who gave the task. Ask them only what the team cannot find out itself: "
        "what an unclear task means, a choice only they can make, or to sign in or solve a "
        "check in the visible browser window and say when they are done. When no one is "
        "present, they reply so, and the team goes on without them."
    )

    async def step(self, instruction: str, ctx: StepContext) -> AgentReply:
        answer = None
        if ctx.control is not None:
            answer = await ctx.control.question(self.name, instruction)
        if answer is None:
            ctx.acted(self.name, "ask", {"question": instruction}, result="no one answered")
            return AgentReply(NOBODY_THERE)
        ctx.acted(self.name, "ask", {"question": instruction}, result="answered")
        return AgentReply(answer)
