"""Attached files: only regular, readable files within the size cap are copied, off the loop."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from magentic.attachments import check_attachment, copy_attachments, prepare_workspace
from magentic.errors import ConfigError

MB = 1024 * 1024


def test_a_link_is_followed_only_to_a_regular_readable_file(tmp_path: Path) -> None:
    real = tmp_path / "data.csv"
    real.write_text("a,b\n1,2\n")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    (tmp_path / "to-dev").symlink_to("/dev/zero")
    (tmp_path / "to-dir").symlink_to(tmp_path)
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    workspace = tmp_path / "ws"
    [attached] = copy_attachments([link], workspace, MB)
    assert attached.copy == workspace / "link.csv" and attached.copy.read_text() == "a,b\n1,2\n"
    assert not attached.copy.is_symlink()  # a copy, never a link into the user's files
    assert attached.note() == {
        "given": str(link),
        "copied_to": "link.csv",
        "bytes": 8,
        "symlink_to": str(real),
    }
    for name, message in [
        ("to-dev", "(a symbolic link to /dev/zero) is not a regular file"),
        ("to-dir", "is not a regular file"),
        ("dangling", "attached file not found"),
        ("missing", "attached file not found"),
    ]:
        with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
            check_attachment(tmp_path / name, MB)


def test_a_sparse_file_counts_by_its_size_and_nothing_is_copied(tmp_path: Path) -> None:
    small = tmp_path / "small.txt"
    small.write_text("fine")
    sparse = tmp_path / "sparse.bin"
    with sparse.open("wb") as fh:
        fh.truncate(2 * 1024 * MB)  # 2 GB that take no disk
    workspace = tmp_path / "ws"
    with pytest.raises(ConfigError, match=r"is 2048.0 MB, over the 200.0 MB limit"):
        copy_attachments([small, sparse], workspace, 200 * MB)
    assert not workspace.exists() or list(workspace.iterdir()) == []  # not even the small one


def _check_as_nobody(path: Path) -> str:
    """check_attachment's verdict on `path` for an unprivileged user: a forked child drops
    root (already-imported code only, so no interpreter files need to be readable to it)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to nobody, check, report, exit at once
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            try:
                check_attachment(path, MB)
                verdict = "accepted"
            except ConfigError as error:
                verdict = error.reason
            os.write(write_end, verdict.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        verdict = pipe.read().decode()
    os.waitpid(pid, 0)
    return verdict


def test_an_unreadable_file_is_refused() -> None:
    """Root reads every file, so as root the check runs as an unprivileged user, on a file in
    a folder that user may enter."""
    folder = Path(tempfile.mkdtemp(prefix="magentic-unreadable-"))
    try:
        folder.chmod(0o755)
        locked = folder / "locked.txt"
        locked.write_text("x")
        locked.chmod(0)
        if os.geteuid() != 0:
            with pytest.raises(ConfigError, match="is not readable"):
                check_attachment(locked, MB)
            return
        verdict = _check_as_nobody(locked)
        assert verdict.startswith("attached file") and verdict.endswith("is not readable")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_an_undecodable_name_is_copied_under_an_escaped_name(tmp_path: Path) -> None:
    odd = Path(os.fsdecode(os.path.join(os.fsencode(tmp_path), b"caf\xe9.txt")))
    odd.write_text("bonjour")
    [attached] = copy_attachments([odd], tmp_path / "ws", MB)
    assert attached.copy.name == "caf\\xe9.txt" and attached.copy.read_text() == "bonjour"
    assert "\\xe9" in attached.note()["given"]


async def test_copying_runs_off_the_event_loop(tmp_path: Path) -> None:
    """Another task gets to run while a large file is copied (a bench runs many at once)."""
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(64 * MB))
    ticks, done = 0, False

    async def ticker() -> None:
        nonlocal ticks
        while not done:
            ticks += 1
            await asyncio.sleep(0)

    running = asyncio.create_task(ticker())
    workspace, [attached] = await prepare_workspace(tmp_path / "run", [big], 100 * MB)
    done = True
    await running
    assert ticks > 1  # a copy on the loop itself would have let the ticker run only once
    assert attached.copy.stat().st_size == 64 * MB and workspace == tmp_path / "run/workspace"
