"""What an MCP tool costs a run beyond the tool's own work: starting a stdio server, one call's
round trip over stdio and over streamable HTTP, closing (the whole process group gone),
dropping an 8 MB reply past the 4 MB cap, and the next start's sweep of leftovers. The server is the tests' tool server (Python, the
official SDK), so start time is mostly its interpreter and imports.

    .venv/bin/python benchmarks/mcp_call.py [--calls 50]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).parent))

from harness import ameasure, emit, peak_rss_mb, summarize, timed

from magentic.agents.mcp_tools import url_checker
from magentic.agents.web_surfer.settings import UrlPolicySettings
from magentic.agents.web_surfer.url_policy import UrlPolicy
from magentic.mcp import leftovers
from magentic.mcp.connection import McpConnection, McpError
from magentic.mcp.settings import McpServerSettings

SERVER = Path(__file__).resolve().parent.parent / "tests" / "mcp" / "tool_server.py"


async def add(conn: McpConnection) -> object:
    return await conn.call("add", {"a": 1, "b": 2}, 10)


async def stdio_numbers(calls: int) -> dict[str, object]:
    starts, closes = [], []
    for _ in range(3):
        conn = McpConnection("b", McpServerSettings(command=sys.executable, args=[str(SERVER)]))
        with timed() as t:
            await conn.start()
        starts.append(t.seconds)
        if len(starts) == 3:
            samples = await ameasure(functools.partial(add, conn), repeat=calls)
            with timed() as flood:
                try:
                    await conn.call("flood", {"mb": 8}, 60)
                except McpError:
                    pass
        with timed() as t:
            await conn.close()
        closes.append(t.seconds)
    return {
        "stdio_start_median_ms": round(sorted(starts)[1] * 1000, 1),
        "stdio_call": summarize([s * 1000 for s in samples], unit="ms", digits=2),
        "stdio_close_median_ms": round(sorted(closes)[1] * 1000, 1),
        "stdio_8mb_reply_dropped_ms": round(flood.seconds * 1000, 1),
    }


async def http_numbers(calls: int) -> dict[str, object]:
    server = await asyncio.to_thread(
        subprocess.Popen,
        [sys.executable, str(SERVER), "http"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = (await asyncio.to_thread(server.stdout.readline)).strip()
        policy = UrlPolicy(UrlPolicySettings(allow=[urlsplit(url).netloc]))
        conn = McpConnection("h", McpServerSettings(url=url), url_checker(policy))
        with timed() as t:
            await conn.start()
        samples = await ameasure(functools.partial(add, conn), repeat=calls)
        await conn.close()
    finally:
        server.kill()
        await asyncio.to_thread(server.wait)
    return {
        "http_connect_ms": round(t.seconds * 1000, 1),
        "http_call": summarize([s * 1000 for s in samples], unit="ms", digits=2),
    }


def keeper_numbers(repeat: int = 15) -> dict[str, object]:
    """What the keeper (`magentic/mcp/launcher.py`) adds to a server's start and end: the
    median time to run `/bin/true` under it, against running it directly."""
    keeper = Path(__file__).resolve().parent.parent / "magentic" / "mcp" / "launcher.py"
    under = [sys.executable, "-I", "-S", str(keeper), str(os.getpid()), "-", "--"]

    def median_ms(command: list[str]) -> float:
        samples = []
        for _ in range(repeat):
            with timed() as t:
                subprocess.run(command, check=True)
            samples.append(t.seconds)
        return round(sorted(samples)[len(samples) // 2] * 1000, 1)

    direct = median_ms(["/bin/true"])
    return {"keeper_added_ms": round(median_ms([*under, "/bin/true"]) - direct, 1)}


def sweep_numbers() -> dict[str, object]:
    """The next start's sweep of what killed runs left: nothing to do (the usual case), and
    one stale record (a dead owner), which reads every process's environment once."""
    with tempfile.TemporaryDirectory() as folder:
        os.environ["MAGENTIC_STATE_DIR"] = folder
        with timed() as empty:
            leftovers.sweep()
        stale = leftovers.Record("0" * 16, 2**22 - 1, 1, 2**22 - 1, 1, None)
        (leftovers.state_dir() / "stale.json").write_text(json.dumps(asdict(stale)))
        with timed() as one:
            leftovers.sweep()
        del os.environ["MAGENTIC_STATE_DIR"]
    return {
        "sweep_nothing_ms": round(empty.seconds * 1000, 2),
        "sweep_one_stale_ms": round(one.seconds * 1000, 2),
        "processes_scanned": sum(1 for p in Path("/proc").iterdir() if p.name.isdigit()),
    }


async def main(calls: int) -> None:
    record: dict[str, object] = {"bench": "mcp_call"}
    record.update(await stdio_numbers(calls))
    record.update(keeper_numbers())
    record.update(sweep_numbers())
    record.update(await http_numbers(calls))
    record["peak_rss_mb"] = peak_rss_mb()
    emit(record)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=50)
    asyncio.run(main(parser.parse_args().calls))
