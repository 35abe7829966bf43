"""Hostile files through the real FileSurfer: seconds and peak memory per case. ONE JSON line.

    .venv/bin/python benchmarks/hostile_files.py [--bomb-mb 1024]

Each case is opened by a FileSurfer driven through the real openai client (a scripted model
that opens the file it is told to). Per case: `seconds` to the observation, the case's
`deadline_s` (its conversion time limit), `rss_delta_mb` (this process's peak resident set
above its idle level, reset before each case through /proc/self/clear_refs), `worker_peak_mb`
(the conversion worker's own peak) and `ok` (within deadline + 5 s and 500 MB of idle).

Cases: a DOCX and an XLSX zip bomb (refused by the size check), a bomb inside a ZIP, a DOCX
bomb with the size check opened wide (stopped by the worker's memory limit), a huge CSV under
a 2 s deadline (the worker, started beforehand, is killed), a named pipe, and a folder whose file name is not
UTF-8 (listed, then opened by its escaped name).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from harness import emit

from magentic.agents.base import StepContext
from magentic.agents.file_surfer import FileSurfer, FileSurferSettings
from magentic.agents.file_worker import peak_rss_kb
from magentic.events import EventBus
from magentic.llm.client import ModelClient
from magentic.llm.settings import ModelSettings
from magentic.testing import ChatRequest, Reply, ScriptedLLMServer

SLACK_S, RSS_BUDGET_MB = 5.0, 500.0


def bomb(path: Path, member: str, megabytes: int) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        with zf.open(member, "w", force_zip64=True) as fh:
            chunk = b" " * (1 << 20)
            for _ in range(megabytes):
                fh.write(chunk)
    return path


def opener(req: ChatRequest) -> Reply:
    m = re.search(r"^Instruction: (open|list) (\S+)$", req.last_user_text(), re.MULTILINE)
    if m and m.group(1) == "list":
        return Reply.tool_call("list_directory", {"path": m.group(2)})
    return Reply.tool_call("open_path", {"path": m.group(2) if m else ""})


def reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # Linux: VmHWM := VmRSS
    except OSError:
        pass


async def run_case(
    server: ScriptedLLMServer,
    folder: Path,
    name: str,
    deadline: float,
    warm: str | None = None,
    **settings: object,
) -> dict[str, object]:
    bus = EventBus()
    model = ModelSettings(model="scripted", base_url=server.base_url, api_key="bench")
    client = ModelClient(model, role="file_surfer", events=bus)
    agent = FileSurfer(
        client, [folder], FileSurferSettings(conversion_timeout_s=deadline, **settings)
    )
    ctx = StepContext(task="read", conversation=[], workspace=folder, events=bus)
    if warm:  # start the worker first, so the deadline is spent converting
        agent.settings.conversion_timeout_s = 120
        await agent.step(f"open {warm}", ctx)
        agent.settings.conversion_timeout_s = deadline
    idle = peak_rss_kb() or 0
    reset_peak()
    started = time.perf_counter()
    reply = await agent.step(name if name.startswith("list ") else f"open {name}", ctx)
    seconds = time.perf_counter() - started
    delta_mb = ((peak_rss_kb() or 0) - idle) / 1024
    worker_mb = (agent.viewer.converter.worker_peak_rss_kb or 0) / 1024
    await agent.close()
    await client.close()
    observation = reply.text.split("\n\n", 1)[-1].splitlines()[0][:160]
    return {
        "seconds": round(seconds, 2),
        "deadline_s": deadline,
        "rss_delta_mb": round(max(delta_mb, 0.0), 1),
        "worker_peak_mb": round(worker_mb, 1),
        "ok": seconds <= deadline + SLACK_S
        and delta_mb <= RSS_BUDGET_MB
        and worker_mb <= RSS_BUDGET_MB + 300,
        "observation": observation,
    }


async def main(bomb_mb: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print("building the hostile files...", file=sys.stderr)
        bomb(folder / "bomb.docx", "word/document.xml", bomb_mb)
        bomb(folder / "bomb.xlsx", "xl/worksheets/sheet1.xml", bomb_mb)
        with zipfile.ZipFile(folder / "bundle.zip", "w") as zf:
            zf.write(folder / "bomb.docx", "inner/report.docx")
        row = "1234,some words in a cell,5678.9,another cell of text,more\n"
        (folder / "huge.csv").write_text("a,b,c,d,e\n" + row * (40 * 2**20 // len(row)))
        (folder / "note.txt").write_text("a small note")
        os.mkfifo(folder / "feed.txt")
        odd = folder / "odd"
        odd.mkdir()
        fd = os.open(os.path.join(os.fsencode(odd), b"caf\xe9-\xff.csv"), os.O_WRONLY | os.O_CREAT)
        os.write(fd, b"a,b\n1,2\n")
        os.close(fd)
        idle_mb = (peak_rss_kb() or 0) / 1024
        cases: dict[str, dict[str, object]] = {}
        async with ScriptedLLMServer(opener) as server:
            print("opening each...", file=sys.stderr)
            cases["docx_bomb"] = await run_case(server, folder, "bomb.docx", 120)
            cases["xlsx_bomb"] = await run_case(server, folder, "bomb.xlsx", 120)
            cases["bomb_in_zip"] = await run_case(server, folder, "bundle.zip", 120)
            cases["docx_bomb_past_size_check"] = await run_case(
                server, folder, "bomb.docx", 120,
                max_unpacked_mb=1e6, max_zip_ratio=1e9, conversion_memory_mb=768,
            )  # fmt: skip
            cases["huge_csv_2s_deadline"] = await run_case(
                server, folder, "huge.csv", 2, warm="note.txt"
            )
            cases["named_pipe"] = await run_case(server, folder, "feed.txt", 120)
            cases["non_utf8_name_listed"] = await run_case(server, folder, f"list {odd}", 120)
            cases["non_utf8_name_opened"] = await run_case(server, odd, "caf\\xe9-\\xff.csv", 120)
    return {
        "bench": "hostile_files",
        "bomb_unpacked_mb": bomb_mb,
        "idle_rss_mb": round(idle_mb, 1),
        "all_ok": all(bool(c["ok"]) for c in cases.values()),
        "cases": cases,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bomb-mb", type=int, default=1024, help="a bomb's unpacked size")
    args = parser.parse_args()
    emit(asyncio.run(main(args.bomb_mb)))
