"""No MCP server process outlives its run: not a grandchild that calls `setsid`, not after a
real `kill -9` of magentic. Played with the test tool server's `family` tool (the server
starts a child, which starts a grandchild that leaves the session), every pid checked in
/proc: at a normal close; at once after `kill -9` of the process holding the connection
(the keeper dies with it); and, when the keeper is killed outright too, at the next start's
sweep, with and without a cgroup."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from magentic.mcp import cgroups
from magentic.mcp.connection import McpConnection
from tests.conftest import require
from tests.mcp.helpers import TOOL_SERVER, alive, stdio

ROOT = Path(__file__).resolve().parents[2]

# A magentic process: holds one connection (`hold`: prints the keeper's pid and the family's
# pids, then waits to be killed), or is the next start (`start`: starts a server, closes it).
HOLDER = """
import asyncio, sys
from magentic.mcp.connection import McpConnection
from magentic.mcp.settings import McpServerSettings

async def main():
    conn = McpConnection("fam", McpServerSettings(command=sys.executable, args=[sys.argv[1]]))
    await conn.start()
    if sys.argv[2] == "hold":
        family = (await conn.call("family", {"clean": sys.argv[3] == "clean"}, 60)).text
        print(conn.pid, family, flush=True)
        await asyncio.to_thread(sys.stdin.read)
    await conn.close()

asyncio.run(main())
"""


def session_of(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[3])
    except (OSError, IndexError):
        return None


def until(condition: object, what: str, limit_s: float = 60.0) -> None:
    """Wait for a condition seen in /proc (a generous cap: a stuck wait fails, never hangs)."""
    deadline = time.monotonic() + limit_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"still waiting for: {what}"
        time.sleep(0.02)


def wait_setsid(grandchild: int) -> None:
    until(lambda: session_of(grandchild) == grandchild, "the grandchild's setsid")


@pytest.fixture
def state() -> Path:
    """The test's own state folder for the records of running servers (see conftest)."""
    return Path(os.environ["MAGENTIC_STATE_DIR"])


@pytest.fixture
def survivors() -> Iterator[list[int]]:
    """Pids a failing test may leave: killed at the end whatever happened."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


async def test_a_normal_close_ends_the_setsid_grandchild_too(
    state: Path, survivors: list[int]
) -> None:
    conn = McpConnection("fam", stdio())
    await conn.start()
    try:
        server, child, grandchild = map(int, (await conn.call("family", {}, 60)).text.split())
        survivors += [server, child, grandchild]
        wait_setsid(grandchild)
        assert all(alive(p) for p in (server, child, grandchild))
        assert os.getpgid(grandchild) != os.getpgid(server)  # it left the process group
        assert list((state / "mcp-servers").glob("*.json"))  # a record while it runs
    finally:
        await conn.close()
    assert conn.pid is not None
    assert [p for p in (conn.pid, server, child, grandchild) if alive(p)] == []
    assert list((state / "mcp-servers").glob("*.json")) == []  # a clean close leaves none


@pytest.mark.parametrize("no_cgroup", [False, True], ids=["cgroup", "no-cgroup"])
async def test_a_close_ends_the_tree_of_a_server_that_killed_its_keeper(
    state: Path, survivors: list[int], no_cgroup: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hostile server kills its keeper mid-run; the close still ends its setsid grandchild:
    by the cgroup (even one that dropped its environment), or without one by its token."""
    if no_cgroup:
        monkeypatch.setenv("MAGENTIC_MCP_NO_CGROUP", "1")
    else:
        require(cgroups.available(), "a writable cgroup v2 (root, or a delegated cgroup)")
    conn = McpConnection("fam", stdio())
    await conn.start()
    try:
        family = await conn.call("family", {"clean": not no_cgroup}, 60)
        server, child, grandchild = map(int, family.text.split())
        survivors += [server, child, grandchild]
        wait_setsid(grandchild)
        assert conn.pid is not None
        os.kill(conn.pid, signal.SIGKILL)  # what the server could do to its parent
        until(lambda: not alive(conn.pid or 0), "the keeper to end")
        assert alive(grandchild)
    finally:
        await conn.close()
    assert [p for p in (server, child, grandchild) if alive(p)] == []


def hold(state: Path, survivors: list[int], no_cgroup: bool = False) -> tuple[Any, list[int]]:
    env = {**os.environ, "MAGENTIC_STATE_DIR": str(state)}
    if no_cgroup:
        env["MAGENTIC_MCP_NO_CGROUP"] = "1"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(TOOL_SERVER), "hold", "keep" if no_cgroup else "clean"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    assert holder.stdout is not None
    keeper, server, child, grandchild = map(int, holder.stdout.readline().split())
    survivors += [holder.pid, keeper, server, child, grandchild]
    wait_setsid(grandchild)
    return holder, [keeper, server, child, grandchild]


def test_kill_9_of_magentic_ends_the_whole_tree_at_once(state: Path, survivors: list[int]) -> None:
    holder, tree = hold(state, survivors)
    assert all(alive(p) for p in tree)
    [record] = [json.loads(p.read_text()) for p in (state / "mcp-servers").glob("*.json")]
    os.kill(holder.pid, signal.SIGKILL)  # no finally block, no exit hook
    holder.wait()
    until(lambda: not any(alive(p) for p in tree), f"{tree} to end")
    if record["cgroup"]:  # the keeper removed its cgroup on the way out
        until(lambda: not Path(record["cgroup"]).exists(), "the cgroup to go")


@pytest.mark.parametrize("no_cgroup", [False, True], ids=["cgroup", "no-cgroup"])
def test_what_survives_a_killed_keeper_ends_at_the_next_start(
    state: Path, survivors: list[int], no_cgroup: bool
) -> None:
    """With a cgroup, even a grandchild that drops its environment (and with it the token the
    sweep looks for) is found; without one, the sweep goes by the token."""
    if not no_cgroup:
        require(cgroups.available(), "a writable cgroup v2 (root, or a delegated cgroup)")
    holder, (keeper, server, child, grandchild) = hold(state, survivors, no_cgroup)
    os.kill(keeper, signal.SIGKILL)  # the keeper first: it cannot take the tree with it
    until(lambda: not alive(keeper), "the keeper to end")
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    # Nothing ends them now (the server itself may go when its stdin closes).
    assert alive(child) and alive(grandchild)
    env = {**os.environ, "MAGENTIC_STATE_DIR": str(state)}
    subprocess.run(
        [sys.executable, "-c", HOLDER, str(TOOL_SERVER), "start", "-"],
        check=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert [p for p in (server, child, grandchild) if alive(p)] == []
    assert list((state / "mcp-servers").glob("*.json")) == []
