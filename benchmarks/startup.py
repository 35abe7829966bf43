"""Start-up as a person feels it: `magentic --version`, and `magentic run` to its first model request.

    .venv/bin/python benchmarks/startup.py [--repeat 7]

`version_s`: wall time of the installed `magentic --version` (process start to exit).
`first_request_s`: wall time from launching `magentic run TASK --base-url URL` to the moment
the scripted server receives the run's first chat-completion request (its script is called
on arrival). Informational requests the client sends before it (`GET /models`, `/props`)
are counted as start-up, not as the first request: they are what a person waits through.
`info_requests` is how many such requests the last run sent first. Each run is in a fresh
folder with a fresh `.magentic/` (no endpoint records), unless `--warm` keeps one folder
in which a whole run went first, as a person running a second task would; figures are
medians.

Targets (issue 20): `--version` <= 0.15 s; run to first request <= 1.0 s on this machine.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import emit

from magentic.testing import Reply, ScriptedLLMServer
from magentic.testing.demo import DEMO_TASK, demo_script
from magentic.testing.server import ChatRequest

COMMAND = Path(sys.executable).parent / "magentic"


def version_seconds() -> float:
    start = time.perf_counter()
    subprocess.run([str(COMMAND), "--version"], check=True, capture_output=True)
    return time.perf_counter() - start


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def first_request_seconds(
    folder: Path, *, finish: bool = False, port: int = 0
) -> tuple[float, int]:
    """Seconds from launch to the first chat request, and how many info requests came first.
    With `finish`, the run goes to its end (so it records what it learned of the endpoint)."""
    arrived = threading.Event()
    stamp: list[float] = []

    def script(request: ChatRequest) -> Reply | str:
        if not stamp:
            stamp.append(time.perf_counter())
            arrived.set()
        return demo_script(request)

    with ScriptedLLMServer(script, port=port) as server:
        env = {**os.environ, "OPENAI_API_KEY": "sk-startup-bench"}
        start = time.perf_counter()
        child = subprocess.Popen(
            [
                str(COMMAND),
                "run",
                DEMO_TASK,
                "--base-url",
                server.base_url,
                "--model",
                "scripted",
                "--agents",
                "Coder,ComputerTerminal",
                "--yes",
            ],
            cwd=folder,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            if not arrived.wait(60):
                raise SystemExit("no model request within 60 s")
            if finish:
                child.wait(120)
        finally:
            child.kill()
            child.wait()
        return stamp[0] - start, len(server.info_requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--warm", action="store_true", help="one folder for every run")
    args = parser.parse_args()
    version_seconds()  # warm the page cache once
    versions = [version_seconds() for _ in range(args.repeat)]
    firsts: list[float] = []
    infos = 0
    with tempfile.TemporaryDirectory() as shared:
        port = free_port()  # the same endpoint address each time, as a person's server has
        if args.warm:  # a first whole run records the endpoint, as a person's first task would
            first_request_seconds(Path(shared), finish=True, port=port)
        for _ in range(args.repeat):
            if args.warm:
                seconds, infos = first_request_seconds(Path(shared), port=port)
            else:
                with tempfile.TemporaryDirectory() as fresh:
                    seconds, infos = first_request_seconds(Path(fresh))
            firsts.append(seconds)
    emit(
        {
            "bench": "startup",
            "version_s": round(statistics.median(versions), 3),
            "first_request_s": round(statistics.median(firsts), 3),
            "first_request_max_s": round(max(firsts), 3),
            "info_requests": infos,
            "warm": args.warm,
            "repeat": args.repeat,
            "load": round(os.getloadavg()[0], 2),
        }
    )


if __name__ == "__main__":
    main()
