"""A run folder is its owner's alone (issue 19, point 13): the attacker is a real second
local user, made with `useradd`, who tries to list the run folder and read each file in it.

Run folders are 0700; the trace, `writer.json`, `calls.jsonl`, the checkpoint and its
images, the trace's attachments, the HTML report and the task's copied files are 0600, so
even with the folder opened for passing through (0711, as the bwrap sandbox needs as root)
every read fails with EACCES. An attached link to a 0600 file is copied 0600, not 0644.
"""

from __future__ import annotations

import errno
import io
import os
import pwd
import shutil
import stat
import subprocess
from pathlib import Path

from PIL import Image

from magentic.config import load_config
from magentic.events import AgentActed, Attachment, EventBus
from magentic.team import run_task
from magentic.testing import ChatRequest, Reply, ScriptedLLMServer, roles
from magentic.trace.report import write_report
from magentic.trace.writer import TraceWriter, read_trace
from tests.conftest import require

PROBE_USER = "magentic-probe"


def second_user() -> tuple[int, int]:
    """A real second local user (made once with useradd): its uid and gid."""
    require(os.geteuid() == 0 and shutil.which("useradd") is not None, "root and useradd")
    try:
        entry = pwd.getpwnam(PROBE_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", PROBE_USER],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(PROBE_USER)
    return entry.pw_uid, entry.pw_gid


def as_other_user(paths: list[Path]) -> dict[str, int]:
    """Each path's errno when the second user reads it (a folder: lists it); 0 if it could.
    A forked child drops to that user (already-imported code only)."""
    uid, gid = second_user()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            lines = []
            for path in paths:
                try:
                    if path.is_dir():
                        os.listdir(path)
                    else:
                        with open(path, "rb") as file:
                            file.read(1)
                    code = 0
                except OSError as error:
                    code = error.errno or -1
                lines.append(f"{code}\t{path}")
            os.write(write_end, "\n".join(lines).encode("utf-8", "surrogateescape"))
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        text = pipe.read().decode("utf-8", "surrogateescape")
    os.waitpid(pid, 0)
    return {line.split("\t", 1)[1]: int(line.split("\t", 1)[0]) for line in text.splitlines()}


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 20), "red").save(out, "PNG")
    return out.getvalue()


def _script(req: ChatRequest) -> Reply:
    if "open_path" in req.tool_names:  # the FileSurfer looks at the picture
        if "I called open_path" in req.all_text():
            return Reply.text("A red picture.")
        return Reply.tool_call("open_path", {"path": "picture.png"})
    step = roles.phase(req)
    if step == "facts":
        return roles.facts()
    if step == "plan":
        return roles.plan(("FileSurfer", "look at the picture"))
    if step == "progress":
        if roles.last_from(req, "FileSurfer") is not None:
            return roles.progress(satisfied=True)
        return roles.progress("FileSurfer", "Open picture.png.")
    return Reply.text("FINAL ANSWER: red")


async def test_nobody_else_can_read_a_run_folder(tmp_path: Path) -> None:
    second_user()
    outside = tmp_path / "mine"
    outside.mkdir()
    secret = outside / "secret.txt"
    secret.write_text("owner only")
    secret.chmod(0o600)
    (outside / "picture.png").write_bytes(_png())
    (outside / "picture.png").chmod(0o644)
    link = outside / "linked.txt"
    link.symlink_to(secret)
    run_dir = tmp_path / "runs" / "one"
    async with ScriptedLLMServer(_script) as server:
        config = load_config(
            overrides={
                "agents": ["FileSurfer"],
                "models.default.base_url": server.base_url,
                "models.default.vision": True,
            }
        )
        result = await run_task(
            "what colour?", config, files=[link, outside / "picture.png"], run_dir=run_dir
        )
    assert result.status == "answered", result.stop_reason
    _check_private(run_dir)


def _check_private(run_dir: Path) -> None:
    files = sorted(p for p in run_dir.rglob("*") if p.is_file() and not p.is_symlink())
    names = {str(p.relative_to(run_dir)) for p in files}
    for expected in ("trace.jsonl", "writer.json", "calls.jsonl", "checkpoint.json"):
        assert expected in names, sorted(names)
    assert any(n.startswith("checkpoint-images/") for n in names), sorted(
        names
    )  # the picture shown
    assert {"workspace/linked.txt", "workspace/picture.png"} <= names
    # The copy of a link to a 0600 file is 0600; a 0644 file's copy is no wider than 0600.
    assert stat.S_IMODE((run_dir / "workspace" / "linked.txt").stat().st_mode) == 0o600
    assert stat.S_IMODE((run_dir / "workspace" / "picture.png").stat().st_mode) == 0o600
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
    wide = [str(p) for p in files if stat.S_IMODE(p.stat().st_mode) & 0o077]
    assert wide == []
    # The second user cannot list the folder, nor read a file in it by name, even when the
    # folder lets others pass through (what the bwrap sandbox needs when run as root).
    assert as_other_user([run_dir]) == {str(run_dir): errno.EACCES}
    os.chmod(run_dir, 0o711)
    os.chmod(run_dir / "workspace", 0o755)
    denied = as_other_user(files)
    assert denied and set(denied.values()) == {errno.EACCES}, denied


def test_trace_attachments_and_the_report_are_owner_only(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    bus = EventBus("r1")
    writer = TraceWriter(run_dir)
    bus.subscribe(writer)
    shot = Attachment(name="screenshot.png", data=_png(), mime="image/png")
    bus.emit(AgentActed(agent="WebSurfer", action="visit_url", attachments=[shot]))
    writer.close()
    report = write_report(run_dir, read_trace(run_dir / "trace.jsonl"))
    files = [*(run_dir / "attachments").iterdir(), report, run_dir / "trace.jsonl"]
    assert len(files) == 3
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE((run_dir / "attachments").stat().st_mode) == 0o700
    os.chmod(run_dir, 0o711)
    os.chmod(run_dir / "attachments", 0o711)
    assert set(as_other_user(files).values()) == {errno.EACCES}


async def test_a_run_folder_that_is_a_link_or_not_ours_is_refused(tmp_path: Path) -> None:
    from magentic.attachments import prepare_workspace
    from magentic.errors import ConfigError

    uid, gid = second_user()
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o755)
    os.chown(theirs, uid, gid)
    (tmp_path / "linked").symlink_to(theirs)
    for folder in (theirs, tmp_path / "linked"):
        try:
            await prepare_workspace(folder, [], 1 << 20)
        except ConfigError as error:
            assert "cannot be made private" in error.reason
        else:
            raise AssertionError(f"{folder} was taken as a run folder")
    assert stat.S_IMODE(theirs.stat().st_mode) == 0o755 and not (theirs / "workspace").exists()
