"""How fast the sandboxes are: prints ONE JSON line of medians in milliseconds.

    .venv/bin/python benchmarks/sandbox_exec.py [--runs 20] [--starts 5]

docker_exec_ms: a trivial Python block in a warm container (target <= 120);
docker_start_ms: start() of a run's container (target <= 600);
docker_teardown_ms: close(), the container gone (target <= 300);
docker_raw_exec_ms: `docker exec CONTAINER python3 -c pass` from the CLI, for comparison;
bwrap_*: the same for bubblewrap (its start() checks the machine and mounts the workspace
quota; each block is a new sandbox); quota_attach_ms / quota_detach_ms: putting an empty
workspace on its 1 GiB quota filesystem and back (part of every start and close), and
quota_detach_64mb_ms with 64 MB of files to copy back; image_mb: the sandbox image's size.
A part the machine lacks reports null.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from magentic.execution import CodeBlock, SandboxSettings, make_executor

TRIVIAL = [CodeBlock("python", "print(1)\n")]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def new_workspace(kind: str) -> Path:
    """Under /tmp and open to others: code runs as an unprivileged user who must reach it."""
    workspace = Path(tempfile.mkdtemp(prefix=f"magentic-bench-{kind}-"))
    workspace.chmod(0o755)
    return workspace


def raw_exec(container: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(["docker", "exec", container, "python3", "-c", "pass"], check=True)
    return time.perf_counter() - t0


async def measure(kind: str, runs: int, starts: int) -> dict[str, float]:
    workspace = await asyncio.to_thread(new_workspace, kind)
    settings = SandboxSettings(timeout=60)
    start_s: list[float] = []
    close_s: list[float] = []
    exec_s: list[float] = []
    raw_s: list[float] = []
    try:
        for i in range(starts):
            executor = make_executor(kind, workspace, settings)
            t0 = time.perf_counter()
            await executor.start()
            start_s.append(time.perf_counter() - t0)
            first = await executor.run(TRIVIAL)  # warm-up, not timed
            if first.exit_code != 0:
                raise RuntimeError(f"{kind}: trivial block failed: {first}")
            if i == 0:
                for _ in range(runs):
                    t0 = time.perf_counter()
                    await executor.run(TRIVIAL)
                    exec_s.append(time.perf_counter() - t0)
                container = getattr(executor, "container_id", None)
                if container and shutil.which("docker"):
                    for _ in range(min(runs, 10)):
                        raw_s.append(await asyncio.to_thread(raw_exec, container))
            t0 = time.perf_counter()
            await executor.close()
            close_s.append(time.perf_counter() - t0)
    finally:
        shutil.rmtree(workspace, ignore_errors=True)
    out = {
        f"{kind}_exec_ms": ms(statistics.median(exec_s)),
        f"{kind}_start_ms": ms(statistics.median(start_s)),
        f"{kind}_teardown_ms": ms(statistics.median(close_s)),
    }
    if raw_s:
        out[f"{kind}_raw_exec_ms"] = ms(statistics.median(raw_s))
    return out


def measure_quota(starts: int) -> dict[str, float | None]:
    """The workspace quota's own cost: mount, and copy back at close. Blocking."""
    from magentic.execution import quota

    attach_s: list[float] = []
    detach_s: list[float] = []
    full_s: list[float] = []
    for i in range(starts + 1):
        workspace = new_workspace("quota")
        try:
            t0 = time.perf_counter()
            mount, why = quota.attach(workspace, SandboxSettings().quota_bytes)
            if mount is None:
                return {"quota_attach_ms": None, "quota_detach_ms": None, "quota_error": why}
            t1 = time.perf_counter()
            if i == starts:  # one more round, with files to copy back
                (workspace / "data.bin").write_bytes(os.urandom(64 * 1024 * 1024))
            t2 = time.perf_counter()
            quota.detach(mount)
            t3 = time.perf_counter()
            if i < starts:
                attach_s.append(t1 - t0)
                detach_s.append(t3 - t2)
            else:
                full_s.append(t3 - t2)
        finally:
            shutil.rmtree(workspace, ignore_errors=True)
    return {
        "quota_attach_ms": ms(statistics.median(attach_s)),
        "quota_detach_ms": ms(statistics.median(detach_s)),
        "quota_detach_64mb_ms": ms(full_s[0]),
    }


def image_mb() -> float | None:
    try:
        from magentic.execution.docker_engine import api as _api
        from magentic.execution.image import image_status

        return image_status(_api(), SandboxSettings().image).size_mb or None
    except Exception:
        return None


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="timed blocks per executor")
    parser.add_argument("--starts", type=int, default=5, help="timed start/close cycles")
    args = parser.parse_args()
    result: dict[str, Any] = {}
    for kind in ("docker", "bwrap"):
        try:
            result.update(await measure(kind, args.runs, args.starts))
        except Exception as exc:  # a missing part is a null, not a crash
            result[f"{kind}_error"] = str(getattr(exc, "reason", exc))[:200]
            result.update({f"{kind}_{k}_ms": None for k in ("exec", "start", "teardown")})
    result.update(await asyncio.to_thread(measure_quota, args.starts))
    result["image_mb"] = await asyncio.to_thread(image_mb)
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
