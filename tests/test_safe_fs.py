"""`safe_fs` against a real hostile process that swaps links in while the host writes.

The attacker is what sandbox code can do to the workspace: replace a folder the host walks
with a symbolic link to a host folder, statically or in a tight loop of atomic renames. A
naive write by name (the old way) is run in the same loop as a control: it does escape, so
the race is real; the helper never does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from magentic import safe_fs

_SWAPPER = r"""
import os, sys
ws, outside, stop = sys.argv[1:4]
os.makedirs(os.path.join(ws, "real"), exist_ok=True)
os.symlink(outside, os.path.join(ws, "link"))
print("ready", flush=True)
d, real, link = (os.path.join(ws, n) for n in ("d", "real", "link"))
while not os.path.exists(stop):
    os.rename(real, d)   # d is a real folder
    os.rename(d, real)
    os.rename(link, d)   # d is a link to the host folder
    os.rename(d, link)
"""


def _tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_a_link_on_the_way_or_at_the_end_is_never_written_through(tmp_path: Path) -> None:
    ws, outside = tmp_path / "ws", tmp_path / "outside"
    ws.mkdir()
    outside.mkdir()
    (outside / "secret").write_text("host file")
    (ws / "media").symlink_to(outside)  # a folder the helper must walk
    (ws / "a").mkdir()
    (ws / "a" / "b").symlink_to(outside)  # deeper down
    (ws / "note.txt").symlink_to(outside / "secret")  # the file itself
    for relative in ("media/x", "media/new/x", "a/b/x"):
        with pytest.raises(OSError):
            safe_fs.create(ws, relative)
    with pytest.raises(FileExistsError):
        safe_fs.create(ws, "note.txt")
    with pytest.raises(OSError):
        safe_fs.create(ws, "note.txt", replace=True)
    with pytest.raises(OSError):
        safe_fs.write_atomic(ws, "media/cache.md", b"x")
    with pytest.raises(OSError):
        safe_fs.open_read(ws, "note.txt")
    with pytest.raises(OSError):
        safe_fs.open_read(ws, "media/secret")
    for bad in ("../outside/x", "/etc/passwd", "", "a/../../x"):
        with pytest.raises(safe_fs.UnsafePath):
            safe_fs.create(ws, bad)
    assert _tree(outside) == ["secret"] and (outside / "secret").read_text() == "host file"
    # A plain path still works, folders made on the way, with the mode asked for.
    with safe_fs.create(ws, "a/c/d/file.bin", mode=0o600) as out:
        out.write(b"ok")
    assert (ws / "a/c/d/file.bin").read_bytes() == b"ok"
    assert (ws / "a/c/d/file.bin").stat().st_mode & 0o777 == 0o600
    path, out = safe_fs.create_unique(ws, [], "note.txt")
    out.close()
    assert path == ws / "note-2.txt" and not path.is_symlink()


def test_a_link_swapped_in_while_the_helper_walks_is_never_followed(tmp_path: Path) -> None:
    """A real process renames a folder and a link to a host folder in and out, as fast as it
    can, while this one writes `d/<name>` both ways. The naive write lands outside (the race
    is real); the helper's writes land in the real folder or fail, never outside."""
    ws, outside, stop = tmp_path / "ws", tmp_path / "outside", tmp_path / "stop"
    ws.mkdir()
    outside.mkdir()
    swapper = subprocess.Popen(
        [sys.executable, "-c", _SWAPPER, str(ws), str(outside), str(stop)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert swapper.stdout is not None and swapper.stdout.readline().strip() == "ready"
        escaped_naive = safe_written = refused = 0
        for i in range(100_000):
            try:  # the old way: by name, following whatever is there now
                with open(ws / "d" / f"naive-{i}", "x") as f:
                    f.write("x")
            except OSError:
                pass
            try:
                with safe_fs.create(ws, f"d/safe-{i}", parents=False) as f:
                    f.write(b"x")
                safe_written += 1
            except OSError:
                refused += 1
            if i % 200 == 199:
                escaped_naive = sum(1 for _ in outside.glob("naive-*"))
                if escaped_naive and safe_written >= 50 and refused >= 50:
                    break
    finally:
        stop.touch()
        swapper.wait(timeout=60)
    assert escaped_naive > 0, "the attacker never won against the naive write: no race seen"
    assert safe_written >= 50 and refused >= 50  # both states of `d` were met by the helper
    assert not list(outside.glob("safe-*"))  # never written through the link
    assert len(list((ws / "real").glob("safe-*"))) == safe_written


def test_a_private_folder_is_0700_and_refuses_a_link(tmp_path: Path) -> None:
    made = safe_fs.private_dir(tmp_path / "run")
    assert made.stat().st_mode & 0o777 == 0o700
    (tmp_path / "wide").mkdir(mode=0o755)
    assert safe_fs.private_dir(tmp_path / "wide").stat().st_mode & 0o777 == 0o700
    (tmp_path / "elsewhere").mkdir(mode=0o755)
    (tmp_path / "linked").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(OSError):
        safe_fs.private_dir(tmp_path / "linked")
    assert (tmp_path / "elsewhere").stat().st_mode & 0o777 == 0o755
    os.chown(tmp_path / "wide", 65534, 65534)
    with pytest.raises(PermissionError):
        safe_fs.private_dir(tmp_path / "wide")
