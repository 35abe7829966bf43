"""A workspace quota left mounted by a process killed with SIGKILL is taken off at the next
start of any magentic process, and only once its owner is dead (issue 19, point 14).

Real processes throughout: a child mounts a real quota over a real workspace and writes in
it; while it lives, a sweep leaves its mount alone; after a real `kill -9`, the next process
that attaches a quota (elsewhere) sweeps it: the files come back into the plain folder and
the image and its lock are gone.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from magentic.execution import quota

from .conftest import require_quota

_OWNER = r"""
import sys
from pathlib import Path
from magentic.execution import quota
workspace = Path(sys.argv[1])
mount, why = quota.attach(workspace, 32 * 1024 * 1024)
assert mount is not None, why
(workspace / "made-inside.txt").write_text("written on the quota filesystem")
print("mounted", flush=True)
sys.stdin.read()  # until killed
"""

_NEXT_START = r"""
import sys
from pathlib import Path
from magentic.execution import quota
mount, why = quota.attach(Path(sys.argv[1]), 32 * 1024 * 1024)
assert mount is not None, why
quota.detach(mount)
"""


def _leftovers(workspace: Path) -> list[str]:
    return sorted(p.name for p in workspace.parent.glob(f".{workspace.name}-*"))


def test_a_killed_owners_quota_is_swept_at_the_next_start(
    workspace: Path, tmp_path_factory
) -> None:
    require_quota()
    (workspace / "before.txt").write_text("there before the quota")
    owner = subprocess.Popen(
        [sys.executable, "-c", _OWNER, str(workspace)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert owner.stdout is not None and owner.stdout.readline().strip() == "mounted"
        assert os.path.ismount(workspace)
        # The owner lives: a sweep (here, in this process) leaves its mount alone.
        assert workspace not in quota.sweep_stale()
        assert os.path.ismount(workspace)
        assert any(n.endswith(".img.lock") for n in _leftovers(workspace))
    finally:
        owner.kill()  # SIGKILL: no exit hook, no unmount
        owner.wait()
    assert os.path.ismount(workspace)  # what a kill -9 leaves behind
    other = Path(tmp_path_factory.mktemp("other-ws"))
    try:
        started = subprocess.run(
            [sys.executable, "-c", _NEXT_START, str(other)], capture_output=True, text=True
        )
        assert started.returncode == 0, started.stderr
    finally:
        for leftover in other.parent.glob(f".{other.name}-*"):
            leftover.unlink()
    assert not os.path.ismount(workspace)
    assert (workspace / "before.txt").read_text() == "there before the quota"
    assert (workspace / "made-inside.txt").read_text() == "written on the quota filesystem"
    assert _leftovers(workspace) == []  # the image and its lock are gone
