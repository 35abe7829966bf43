"""One MCP connection against real servers: tools work, and every kind of bad server gives
a clear McpError while the run's process stays in charge (no hang, no survivor)."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from magentic.agents.mcp_tools import url_checker
from magentic.agents.web_surfer.settings import UrlPolicySettings
from magentic.agents.web_surfer.url_policy import UrlPolicy
from magentic.mcp.connection import McpConnection, McpError
from magentic.mcp.settings import McpServerSettings
from tests.mcp.helpers import RAW_SERVER, TOOL_SERVER, alive, stdio


async def test_stdio_tools_are_listed_filtered_and_called() -> None:
    conn = McpConnection("calc", stdio(blocked_tools=["crash"], allowed_tools=["add", "crash"]))
    try:
        tools = await conn.start()
        assert [t.name for t in tools] == ["add"]
        assert tools[0].schema["properties"].keys() == {"a", "b"}
        a, b = random.randint(1000, 9999), random.randint(1000, 9999)
        result = await conn.call("add", {"a": a, "b": b}, 10)
        assert (result.text, result.is_error) == (str(a + b), False)
    finally:
        await conn.close()
    assert conn.pid is not None and not alive(conn.pid)


async def test_a_bad_stdio_server_gives_errors_and_goes_on_until_it_dies() -> None:
    conn = McpConnection("bad", stdio(max_message_bytes=1024 * 1024))
    try:
        await conn.start()
        with pytest.raises(McpError, match=r"no answer within 1\.5 s"):
            await conn.call("hang", {}, 1.5)
        with pytest.raises(McpError, match="larger than 1048576 bytes"):
            await conn.call("flood", {"mb": 3}, 20)
        failed = await conn.call("fail", {}, 10)
        assert failed.is_error
        assert (await conn.call("echo", {"text": "still here"}, 10)).text == "still here"
        with pytest.raises(McpError, match=r"ended \(exit code 3\)"):
            await conn.call("crash", {}, 10)
        with pytest.raises(McpError, match="is not running"):
            await conn.call("echo", {"text": "again"}, 10)
    finally:
        await conn.close()
    assert conn.pid is not None and not alive(conn.pid)


async def test_output_is_capped_for_the_model() -> None:
    conn = McpConnection("cap", stdio(max_output_chars=500))
    try:
        await conn.start()
        result = await conn.call("echo", {"text": "y" * 5000}, 10)
        assert len(result.text) < 600 and "characters cut" in result.text
    finally:
        await conn.close()


async def test_malformed_replies_and_noise_on_stdout() -> None:
    conn = McpConnection("raw", stdio(RAW_SERVER))
    try:
        await conn.start()
        with pytest.raises(McpError, match="malformed result"):
            await conn.call("garbled", {}, 10)
        assert (await conn.call("noisy", {}, 10)).text == "noisy but fine"
        with pytest.raises(McpError, match=r"exit code 5"):
            await conn.call("truncated", {}, 10)
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        (stdio(RAW_SERVER, "die"), "could not start.*cannot open its database"),
        (stdio(RAW_SERVER, "silent"), "did not start within 1 s"),
        (McpServerSettings(command="/nonexistent/mcp-server"), "could not start.*No such file"),
    ],
    ids=["exits", "silent", "missing"],
)
async def test_a_server_that_fails_to_start_says_why(
    settings: McpServerSettings, reason: str
) -> None:
    conn = McpConnection("broken", settings)
    with pytest.raises(McpError, match=reason):
        await conn.start(1.0)
    assert conn.pid is None or not alive(conn.pid)


async def test_close_kills_the_servers_whole_process_group() -> None:
    conn = McpConnection("spawner", stdio())
    await conn.start()
    child = int((await conn.call("spawn", {}, 10)).text)
    assert alive(child)
    await conn.close()
    assert conn.pid is not None
    assert not alive(conn.pid) and not alive(child)


async def test_http_server_under_the_url_policy(http_url: str) -> None:
    refused = McpConnection("web", McpServerSettings(url=http_url), url_checker(UrlPolicy()))
    with pytest.raises(McpError, match=r"URL policy.*private or local"):
        await refused.start()
    allow = UrlPolicySettings(allow=[urlsplit(http_url).netloc])
    conn = McpConnection(
        "web",
        McpServerSettings(url=http_url, headers={"X-Test": "1"}, max_message_bytes=1024 * 1024),
        url_checker(UrlPolicy(allow)),
    )
    try:
        await conn.start()
        a, b = random.randint(1, 999), random.randint(1, 999)
        assert (await conn.call("add", {"a": a, "b": b}, 10)).text == str(a + b)
        with pytest.raises(McpError, match=r"no answer within 1\.5 s"):
            await conn.call("hang", {}, 1.5)
        with pytest.raises(McpError, match="byte limit"):
            await conn.call("flood", {"mb": 2}, 20)
        assert (await conn.call("echo", {"text": "on"}, 10)).text == "on"
    finally:
        await conn.close()


EXIT_WITHOUT_CLOSING = """
import asyncio, atexit, os, sys
from magentic.mcp.connection import McpConnection
from magentic.mcp.settings import McpServerSettings

async def main():
    conn = McpConnection("left", McpServerSettings(command=sys.executable, args=[sys.argv[1]]))
    await conn.start()
    child = (await conn.call("spawn", {}, 10)).text
    print(conn.pid, child, flush=True)
    if sys.argv[2] == "hooks":
        atexit._run_exitfuncs()  # what magentic.stopping's hard exit does before leaving
    os._exit(0)  # no finally blocks, no task cleanup: the server is still open

asyncio.run(main())
"""


def _exit_without_closing(mode: str) -> tuple[int, int]:
    done = subprocess.run(
        [sys.executable, "-c", EXIT_WITHOUT_CLOSING, str(TOOL_SERVER), mode],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
    server, child = map(int, done.stdout.split())
    return server, child


def test_the_exit_hook_kills_servers_a_process_left_open() -> None:
    """The hard stop's path: no close, only the exit hooks: nothing is left when it ends."""
    server, child = _exit_without_closing("hooks")
    assert not alive(server) and not alive(child)


def test_a_process_that_leaves_without_its_hooks_leaves_nothing_either() -> None:
    """No close and no exit hook (as after `kill -9`): the keeper dies with its parent and
    takes the server's tree along (`tests/mcp/test_processes.py` kills for real)."""
    server, child = _exit_without_closing("none")
    deadline = time.monotonic() + 60
    while alive(server) or alive(child):
        assert time.monotonic() < deadline, "the server's tree outlived its process"
        time.sleep(0.02)
