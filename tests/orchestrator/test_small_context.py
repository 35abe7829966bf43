"""A long run on a server with a small context: every request is fitted, none is refused."""

from __future__ import annotations

from pathlib import Path

from magentic.agents.base import AgentReply, BaseAgent, StepContext
from magentic.orchestrator.settings import OrchestratorSettings
from magentic.testing import ChatRequest, Reply, roles

from .helpers import run_team


class Reader(BaseAgent):
    """Reports a long page each time, as a web or file agent would."""

    name = "Reader"
    description = "Reads the next page of a long report."

    def __init__(self) -> None:
        self.pages = 0

    async def step(self, instruction: str, ctx: StepContext) -> AgentReply:
        self.pages += 1
        return AgentReply(f"Page {self.pages}: " + "the harbour ledger lists crates. " * 70)


async def test_a_long_run_fits_a_2k_context_without_a_refusal(tmp_path: Path) -> None:
    reader = Reader()

    def script(request: ChatRequest) -> Reply:
        step = roles.phase(request)
        if step == "facts":
            return roles.facts()
        if step == "plan":
            return roles.plan(("Reader", "read every page"))
        if step == "progress":
            if "Page 6:" in request.all_text():
                return roles.progress(satisfied=True)
            return roles.progress("Reader", "Read the next page.")
        if step == "final":
            return Reply.text("The ledger lists crates.")
        return Reply.text("?")

    run = await run_team(
        script,
        tmp_path,
        agents=[reader],
        settings=OrchestratorSettings(transcript_chars=100_000),  # only the context limits it
        server_options={"context_tokens": 2048},
    )
    assert run.result.status == "answered", run.result.stop_reason
    assert reader.pages == 6
    assert not run.server.refused  # the server's 400 past its context was never met
    trimmed = run.of("context_trimmed")
    assert trimmed and all(e.context_tokens == 2048 for e in trimmed)  # type: ignore[attr-defined]
    assert any(e.dropped_messages > 0 for e in trimmed)  # type: ignore[attr-defined]


async def test_a_context_setting_larger_than_the_servers_is_corrected_before_any_refusal(
    tmp_path: Path,
) -> None:
    # The server is asked what it is before the first call (its /props, no model call), and
    # the size it says there wins over the larger setting. (A server that does not say meets
    # its 400 once instead: tests/llm/test_local_servers.py.)
    reader = Reader()

    def script(request: ChatRequest) -> Reply:
        step = roles.phase(request)
        if step == "facts":
            return roles.facts()
        if step == "plan":
            return roles.plan(("Reader", "read every page"))
        if step == "progress":
            if "Page 6:" in request.all_text():
                return roles.progress(satisfied=True)
            return roles.progress("Reader", "Read the next page.")
        return Reply.text("The ledger lists crates.")

    run = await run_team(
        script,
        tmp_path,
        agents=[reader],
        settings=OrchestratorSettings(transcript_chars=100_000),
        server_options={"context_tokens": 2048},
        model_options={"context_tokens": 32768},  # a wrong setting: the server knows better
    )
    assert run.result.status == "answered", run.result.stop_reason
    assert not run.server.refused and not run.of("model_call_failed")
    trimmed = run.of("context_trimmed")
    assert trimmed and all(e.context_tokens == 2048 for e in trimmed)  # type: ignore[attr-defined]


class Camera(BaseAgent):
    """Replies with a picture, which the orchestrator resends with `transcript_images`."""

    name = "Camera"
    description = "Takes a picture of the harbour."

    async def step(self, instruction: str, ctx: StepContext) -> AgentReply:
        from magentic.llm.messages import ImagePart

        return AgentReply("A picture of 12 crates.", images=[ImagePart(b"\x89PNG picture")])


async def test_a_team_on_a_server_refusing_list_content_steps_down_once(tmp_path: Path) -> None:
    def script(request: ChatRequest) -> Reply:
        step = roles.phase(request)
        if step == "facts":
            return roles.facts()
        if step == "plan":
            return roles.plan(("Camera", "take a picture"))
        if step == "progress":
            if roles.last_from(request, "Camera"):
                return roles.progress(satisfied=True)
            return roles.progress("Camera", "Take a picture.")
        return Reply.text("12 crates.")

    run = await run_team(
        script,
        tmp_path,
        agents=[Camera()],
        settings=OrchestratorSettings(transcript_images="last"),
        server_options={"supports_list_content": False, "refusal_status": 500},
    )
    assert run.result.status == "answered" and run.result.answer == "12 crates."
    failed = run.of("model_call_failed")
    assert [(e.status, e.feature) for e in failed] == [(500, "list_content")]  # type: ignore[attr-defined]
    sent = [m["content"] for r in run.server.requests for m in r.messages]
    assert all(isinstance(content, str) for content in sent)
    assert any("image(s) omitted" in content for content in sent)
