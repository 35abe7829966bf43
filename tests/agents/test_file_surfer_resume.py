"""A FileSurfer rebuilt from its snapshot (as `magentic resume` does in a new process) shows
the same file, at the same page, with the same search going on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from magentic.agents.base import StepContext
from magentic.agents.file_settings import FileSurferSettings
from magentic.agents.file_surfer import FileSurfer, _Path
from magentic.events import EventBus
from magentic.llm.client import ModelClient
from magentic.llm.settings import ModelSettings
from magentic.testing import Reply, ScriptedLLMServer


async def test_a_restored_file_surfer_is_on_the_same_page_of_the_same_file(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    lines = [f"Line {n}: " + ("a needle here. " if n % 40 == 0 else "hay and more hay. ") * 6
             for n in range(400)]  # fmt: skip
    (workspace / "notes.txt").write_text("\n".join(lines))
    ctx = StepContext(task="read", conversation=[], workspace=workspace, events=EventBus())
    async with ScriptedLLMServer(lambda request: Reply.text("unused")) as server:
        settings = ModelSettings(model="scripted", base_url=server.base_url, api_key="k")
        client = ModelClient(settings, role="file_surfer")
        first = FileSurfer(client, [workspace], FileSurferSettings(page_tokens=200))
        second = FileSurfer(client, [], FileSurferSettings(page_tokens=200))
        try:
            assert await second.snapshot() == {}  # nothing open: nothing to keep
            assert (await first.open_path(_Path(path="notes.txt"))).ok
            first.viewer.find("needle")
            first.viewer.find_next()
            first.viewer.go_to_page(5)
            state = json.loads(json.dumps(await first.snapshot()))  # as the checkpoint has it
            await second.restore(state, ctx)
            assert second.viewer.state == first.viewer.state
            assert "page 5 of" in second.viewer.state
            assert second.viewer.render() == first.viewer.render()
            assert second.viewer.find_next().text == first.viewer.find_next().text
        finally:
            await first.close()
            await second.close()
            await client.close()
        assert not server.requests  # restoring asks the model nothing


async def test_a_restored_file_surfer_opens_nothing_outside_the_run_or_through_a_link(
    tmp_path: Path,
) -> None:
    """The checkpoint is data: a saved open file outside the workspace, or a link planted
    in it (the sandbox can write there), is not reopened."""
    workspace = tmp_path / "run" / "workspace"
    workspace.mkdir(parents=True)
    secret = tmp_path / "host-secret.txt"
    secret.write_text("the host's secret words")
    (workspace / "planted.txt").symlink_to(secret)
    (workspace / "inner").symlink_to(tmp_path)
    ctx = StepContext(task="read", conversation=[], workspace=workspace, events=EventBus())
    async with ScriptedLLMServer(lambda request: Reply.text("unused")) as server:
        settings = ModelSettings(model="scripted", base_url=server.base_url, api_key="k")
        client = ModelClient(settings, role="file_surfer")
        surfer = FileSurfer(client, [], FileSurferSettings())
        try:
            for path in [
                str(secret),
                str(workspace / ".." / ".." / "host-secret.txt"),
                str(workspace / "planted.txt"),
                str(workspace / "inner" / "host-secret.txt"),
            ]:
                with pytest.raises(RuntimeError, match="reopen"):
                    await surfer.restore({"path": path, "page": 1}, ctx)
                assert surfer.viewer.document is None
        finally:
            await surfer.close()
            await client.close()
