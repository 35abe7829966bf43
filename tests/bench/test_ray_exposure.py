"""`bench --ray` and the open door: real Ray clusters started here, a real CLI driver.

- A cluster bound to 127.0.0.1 (nobody else can reach it) is used without a word.
- A cluster started the way `ray start --head` starts one, on this machine's own network
  address and without token authentication, is refused in one line (exit 2) before any task
  is sent; `--ray-allow-unauthenticated` goes on with a warning. An intruder's driver (no
  token, coming in through that network address) runs code there first, to show the door
  is really open.
- The same cluster with `RAY_AUTH_MODE=token` is used by a driver that has the token, and a
  driver without it is turned away.

Only this machine's own addresses are used. Each process gets its own empty HOME, so no
`~/.ray/auth_token` of the machine's decides anything, and every cluster is stopped by the
process group this test started.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from magentic.bench.results import ResultStore
from magentic.testing import ScriptedLLMServer
from tests.bench.test_ray import ROOT, SLOT, SMALL_STORE, Gate, make_script, write_suite
from tests.conftest import require

pytestmark = pytest.mark.slow

TOKEN = "magentic-test-token-6c1f0e9a2b7d4e58"


def own_address() -> str:
    """A non-loopback IPv4 address of this machine (not a container bridge)."""
    require(shutil.which("ip") is not None, "the `ip` command (iproute2)")
    lines = subprocess.run(
        ["ip", "-o", "-4", "addr", "show", "scope", "global"],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    for line in lines:
        name, address = line.split()[1], line.split()[3].split("/")[0]
        if not name.startswith(("docker", "br-", "veth")):
            return address
    require(False, "a non-loopback network address on this machine")
    raise AssertionError


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """This process's environment without any Ray token, with its own empty HOME."""
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    return {**env, "HOME": str(home), "PYTHONPATH": str(ROOT), "OPENAI_API_KEY": "unused", **extra}


@contextlib.contextmanager
def ray_head(tmp: Path, node_ip: str, **env: str) -> Iterator[str]:
    """`ray start --head --block` as the README has it, with one task slot; yields HOST:PORT
    once Ray says it started, and stops the whole process group afterwards."""
    require(importlib.util.find_spec("ray") is not None, "Ray (pip install 'magentic[ray]')")
    port = free_port()
    ray = Path(sys.executable).with_name("ray")
    short = Path(tempfile.mkdtemp(prefix="mgr-"))  # Ray's socket paths must stay short
    child = subprocess.Popen(
        [str(ray), "start", "--head", "--block", "--port", str(port), "--node-ip-address",
         node_ip, "--num-cpus", "1", "--resources", json.dumps(SLOT), "--include-dashboard",
         "false", "--object-store-memory", str(SMALL_STORE), "--disable-usage-stats",
         "--temp-dir", str(short)],
        env=clean_env(tmp / "head-home", **env),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    said = []
    try:
        assert child.stdout is not None
        for line in child.stdout:  # blocks until Ray has started, or the child has ended
            said.append(line)
            if "Ray runtime started" in line:
                break
        else:
            raise AssertionError("ray start ended early:\n" + "".join(said[-20:]))
        # Keep reading what it says: a full pipe would stall its shutdown.
        threading.Thread(target=child.stdout.read, daemon=True).start()
        yield f"{node_ip}:{port}"
    finally:
        child.terminate()  # `ray start --block` stops its node's processes on SIGTERM
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)  # whatever did not stop with its head
        child.wait()
        shutil.rmtree(short, ignore_errors=True)


def bench(tmp: Path, address: str, base_url: str, *flags: str, **env: str) -> Any:
    suite = write_suite(tmp / "suite", [(20, 22)])
    return subprocess.run(
        [sys.executable, "-m", "magentic.cli", "bench", str(suite), "--out", str(tmp / "out"),
         "--ray", address, "--base-url", base_url, "--model", "scripted", "--agents", "Coder",
         *flags],
        env=clean_env(tmp / "driver-home", **env), capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def solved(tmp: Path) -> bool:
    rows = ResultStore(tmp / "out").load()
    return [(r.task_id, r.correct) for r in rows] == [("sum-0", True)]


def test_a_cluster_bound_to_loopback_is_used_without_a_word(tmp_path: Path) -> None:
    """The README's one-machine set-up: Ray's single-machine mode keeps it on 127.0.0.1."""
    outside = own_address()
    with ray_head(tmp_path, "127.0.0.1", RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0") as address:
        port = int(address.rpartition(":")[2])
        # The premise: from this machine's network address, nothing answers on its port.
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((outside, port), timeout=5).close()
        with ScriptedLLMServer(make_script(Gate(1))) as server:
            done = bench(tmp_path, address, server.base_url, RAY_AUTH_MODE="disabled")
    assert done.returncode == 0, done.stderr
    assert "token" not in done.stderr and "warning" not in done.stderr, done.stderr
    assert solved(tmp_path)


def test_an_open_cluster_on_a_network_address_is_refused_unless_allowed(tmp_path: Path) -> None:
    outside = own_address()
    with ray_head(tmp_path, outside, RAY_AUTH_MODE="disabled") as address:
        # The intruder: a driver with no token, through the network address, runs `id`.
        intruder = subprocess.run(
            [sys.executable, "-c",
             f"import ray, subprocess; ray.init(address={address!r}, log_to_driver=False);"
             f"f = ray.remote(num_cpus=0, resources={SLOT!r})(lambda: subprocess.run(['id',"
             " '-u'], capture_output=True, text=True).stdout);"
             "print('RAN', ray.get(f.remote()).strip())"],
            env=clean_env(tmp_path / "intruder-home", RAY_AUTH_MODE="disabled"),
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert re.search(r"^RAN \d+$", intruder.stdout, re.M), intruder.stderr[-2000:]
        with ScriptedLLMServer(make_script(Gate(1))) as server:
            refused = bench(tmp_path / "a", address, server.base_url, RAY_AUTH_MODE="disabled")
            allowed = bench(
                tmp_path / "b",
                address,
                server.base_url,
                "--ray-allow-unauthenticated",
                RAY_AUTH_MODE="disabled",
            )
    assert refused.returncode == 2, refused.stderr
    (line,) = refused.stderr.strip().splitlines()
    assert f"runs code for anyone who reaches {outside}" in line, line
    assert "RAY_AUTH_MODE=token" in line and "--ray-allow-unauthenticated" in line, line
    assert not (tmp_path / "a" / "out" / "results.jsonl").exists()
    assert allowed.returncode == 0, allowed.stderr
    warning = [s for s in allowed.stderr.splitlines() if s.startswith("warning:")]
    assert len(warning) == 1 and "--ray-allow-unauthenticated" in warning[0], allowed.stderr
    assert solved(tmp_path / "b")


def test_a_token_cluster_takes_the_bench_and_turns_a_driver_without_it_away(
    tmp_path: Path,
) -> None:
    outside = own_address()
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": TOKEN}
    with (
        ray_head(tmp_path, outside, **auth) as address,
        ScriptedLLMServer(make_script(Gate(1))) as server,
    ):
        stranger = bench(tmp_path / "a", address, server.base_url, RAY_AUTH_MODE="disabled")
        member = bench(tmp_path / "b", address, server.base_url, **auth)
    assert stranger.returncode == 2, stranger.stderr
    (line,) = stranger.stderr.strip().splitlines()
    assert f"the Ray cluster at {address} asks for a token and this driver has none" in line
    assert not (tmp_path / "a" / "out" / "results.jsonl").exists()
    # The cluster is on a network address, and the probe without a token was refused: no word.
    assert member.returncode == 0, member.stderr
    assert "warning" not in member.stderr and TOKEN not in member.stderr, member.stderr
    assert solved(tmp_path / "b")
