"""Start-up as a person feels it: `magentic --version`, and `magentic run` to its first model request.

    .venv/bin/python benchmarks/startup.py [--repeat 7]

`version_s`: wall time of the installed `magentic --version` (process start to exit).
`first_request_s`: wall time from launching `magentic run TASK --base-url URL` to the moment
the scripted server receives the run's first chat-completion request (its script is called
on arrival). Informational requests the client sends before it (`GET /models`, `/props`)
are counted as start-up, not as the first request: they are what a person waits through.
`info_requests` is how many such requests the last run sent first. Each run is in a fresh
folder with a fresh `.magentic/` (no endpoint records), unless `--warm` keeps one folder, as
a person running a second task would; both figures are printed as medians.

Targets (issue 20): `--version` <= 0.15 s; run to first request <= 1.0 s on this machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import emit

from magentic.testing import ScriptedLLMServer
from magentic.testing.server import ChatRequest

COMMAND = Path(sys.executable).parent / "magentic"


def version_seconds() -> float:
    start = time.perf_counter()
    subprocess.run([str(COMMAND), "--version"], check=True, capture_output=True)
    return time.perf_counter() - start


def first_request_seconds(folder: Path) -> tuple[float, int]:
    """Seconds from launch to the first chat request, and how many info requests came first."""
    arrived = threading.Event()
    stamp: list[float] = []

    def script(request: ChatRequest) -> str:
        if not stamp:
            stamp.append(time.perf_counter())
            arrived.set()
        return '{"answer": "done"}'

    with ScriptedLLMServer(script) as server:
        env = {**os.environ, "OPENAI_API_KEY": "sk-startup-bench"}
        start = time.perf_counter()
        child = subprocess.Popen(
            [
                str(COMMAND),
                "run",
                "What is 2+2?",
                "--base-url",
                server.base_url,
                "--model",
                "scripted",
                "--max-rounds",
                "1",
            ],
            cwd=folder,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            if not arrived.wait(60):
                raise SystemExit("no model request within 60 s")
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
        for _ in range(args.repeat):
            if args.warm:
                seconds, infos = first_request_seconds(Path(shared))
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
