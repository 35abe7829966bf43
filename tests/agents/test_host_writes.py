"""Code in the sandbox cannot steer a host-side write (issue 19, point 1).

The attacker is real code run by the real ComputerTerminal in the real Docker sandbox: it
replaces the folders the host used to write into (`.magentic-media`, and any name the host
might use) with symbolic links to a host folder. Then the FileSurfer opens an attached
archive, which it unpacks. Nothing may land in the host folder; the members are unpacked in
the run's private `.host` folder, which the sandbox cannot see, and can be read from there.
"""

from __future__ import annotations

import io
import re
import stat
import tempfile
import zipfile
from pathlib import Path

import pytest

from magentic.config import load_config
from magentic.team import run_task
from magentic.testing import ChatRequest, Reply, ScriptedLLMServer, roles
from tests.execution.conftest import require_docker

MARK = "unpacked-member-7421"


def _plant(victim: Path) -> str:
    """The Coder's code: every name the host might write through becomes a link to `victim`
    (a host path: the host, not the container, follows the link)."""
    names = [".magentic-media", ".host", "downloads", "unpacked", "transcripts"]
    lines = "\n".join(
        f"os.symlink({str(victim)!r}, '/workspace/{name}', target_is_directory=True)"
        for name in names
    )
    return f"```python\nimport os\n{lines}\nprint('PLANTED', sorted(os.listdir('/workspace')))\n```"


def _script(victim: Path):  # -> a script
    def script(req: ChatRequest) -> Reply:
        if "open_path" in req.tool_names:  # the FileSurfer's model
            if "I called open_path" in req.all_text():
                return Reply.text("The archive is open.")
            return Reply.tool_call("open_path", {"path": "bundle.zip"})
        step = roles.phase(req)
        if step == "coder":
            return Reply.text(_plant(victim))
        if step in ("facts", "replan_facts"):
            return roles.facts()
        if step in ("plan", "replan_plan"):
            return roles.plan(
                ("Coder", "write code"), ("ComputerTerminal", "run it"), ("FileSurfer", "open")
            )
        if step == "progress":
            if roles.last_from(req, "FileSurfer") is not None:
                return roles.progress(satisfied=True)
            ran = roles.last_from(req, "ComputerTerminal")
            if ran is not None and "PLANTED" in ran:
                return roles.progress("FileSurfer", "Open bundle.zip.")
            if roles.last_from(req, "Coder") is not None:
                return roles.progress("ComputerTerminal", "Run the Coder's code.")
            return roles.progress("Coder", "Write the code.")
        return Reply.text("FINAL ANSWER: done")

    return script


@pytest.mark.docker
async def test_planted_links_do_not_steer_the_unpacking_of_an_archive(tmp_path: Path) -> None:
    require_docker()
    victim = Path(tempfile.mkdtemp(prefix="magentic-victim-"))  # a host folder, outside the run
    bundle = tmp_path / "bundle.zip"
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as zf:
        zf.writestr("docs/inside.txt", MARK)
    bundle.write_bytes(data.getvalue())
    run_dir = tmp_path / "run"
    async with ScriptedLLMServer(_script(victim)) as server:
        config = load_config(
            overrides={
                "agents": ["Coder", "ComputerTerminal", "FileSurfer"],
                "models.default.base_url": server.base_url,
                "sandbox.kind": "docker",
            }
        )
        result = await run_task("open the bundle", config, files=[bundle], run_dir=run_dir)
        assert not server.script_errors, server.script_errors
        said = [r.all_text() for r in server.requests]
    assert result.status == "answered", result.stop_reason
    _check(run_dir, victim, said)


def _check(run_dir: Path, victim: Path, said: list[str]) -> None:
    planted = [t for t in said if "PLANTED" in t and ".magentic-media" in t]
    assert planted, "the sandbox code did not run"
    assert list(victim.iterdir()) == []  # nothing written through a link, as root
    # The members were unpacked in the run's private folder and the FileSurfer read them.
    unpacked = list((run_dir / ".host").rglob("inside.txt"))
    assert len(unpacked) == 1 and unpacked[0].read_text() == MARK
    opened = next(t for t in said if "files unpacked into" in t)
    assert re.search(r"1 files unpacked into \S*/\.host/unpacked/bundle\.zip\.", opened)
    assert stat.S_IMODE((run_dir / ".host").stat().st_mode) == 0o700
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
    # The links the code made are still there, untouched: the host wrote past them.
    assert (run_dir / "workspace" / ".magentic-media").is_symlink()
    victim.rmdir()
