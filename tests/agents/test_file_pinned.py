"""The conversion worker reads the file that was checked, never one swapped in after.

The FileSurfer checks a path in its own process (inside an allowed folder, links resolved),
then the worker's converters open the name, several times. Code in the sandbox can swap a
workspace folder for a link to a host folder in between; `pinned` opens the checked path
once without following links and hands the converters an alias of that open file.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from magentic.agents.file_convert import Refused, convert_file
from magentic.agents.file_worker import pinned
from tests.test_safe_fs import _SWAPPER


def test_the_alias_reads_the_file_opened_even_after_the_name_changes(tmp_path: Path) -> None:
    note = tmp_path / "note.txt"
    note.write_text("the checked file\n")
    with pinned(note) as alias:
        assert alias.name == "note.txt" and alias.parent != tmp_path
        note.unlink()
        note.write_text("a file swapped in afterwards\n")
        assert "the checked file" in convert_file(alias, max_bytes=10_000).text
    assert not alias.parent.exists()  # the private alias folder goes with it


def test_a_link_anywhere_on_the_checked_path_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("host secret\n")
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "d").symlink_to(outside)
    (tmp_path / "ws" / "direct.txt").symlink_to(outside / "secret.txt")
    for path in (tmp_path / "ws" / "d" / "secret.txt", tmp_path / "ws" / "direct.txt"):
        with (
            pytest.raises(Refused, match="could not be opened as the file that was checked"),
            pinned(path),
        ):
            pass


def test_a_folder_swapped_for_a_link_while_converting_never_leaks_the_host_file(
    tmp_path: Path,
) -> None:
    """A real process swaps `d` between a real folder and a link to a host folder as fast as
    it can. Converting `d/secret.txt` by name (the old way) reads the host file at times (the
    race is real); through `pinned`, never."""
    ws, outside, stop = tmp_path / "ws", tmp_path / "outside", tmp_path / "stop"
    ws.mkdir()
    outside.mkdir()
    (ws / "real").mkdir()
    (ws / "real" / "secret.txt").write_text("the workspace file\n")
    (outside / "secret.txt").write_text("HOST-ONLY-SECRET\n")
    swapper = subprocess.Popen(
        [sys.executable, "-c", _SWAPPER, str(ws), str(outside), str(stop)],
        stdout=subprocess.PIPE,
        text=True,
    )
    leaked_naive = read_pinned = refused = 0
    try:
        assert swapper.stdout is not None and swapper.stdout.readline().strip() == "ready"
        path = ws / "d" / "secret.txt"
        for _ in range(20_000):
            try:
                leaked_naive += "HOST-ONLY" in convert_file(path, max_bytes=10_000).text
            except Refused:
                pass
            try:
                with pinned(path) as alias:
                    text = convert_file(alias, max_bytes=10_000).text
                assert "HOST-ONLY" not in text
                read_pinned += 1
            except Refused:
                refused += 1
            if leaked_naive and read_pinned >= 20 and refused >= 20:
                break
    finally:
        stop.touch()
        swapper.wait(timeout=60)
    assert leaked_naive > 0, "the swapper never won against reading by name: no race seen"
    assert read_pinned >= 20 and refused >= 20  # both states of `d` were met
