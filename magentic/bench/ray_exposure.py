"""Is the Ray cluster `bench --ray` joined an open door? Checked before any task is sent.

A Ray cluster runs whatever code a driver sends it. Without token authentication
(`RAY_AUTH_MODE=token`, Ray 2.52 and later) anyone who reaches its head's port is such a
driver, and `ray start --head` on Ray 2.60 listens on every interface of the machine unless
its node address is the loopback one. Sending a bench there hands the config (and any key
written in it) and the nodes' environments to whoever else joins, so a cluster that is both
reachable from a network and unauthenticated is refused unless the person says otherwise
(`--ray-allow-unauthenticated`, for a network that only they can reach).

How it is decided, from what the cluster itself reports once joined:
- every address it reports (its GCS address, each live node's address) is a loopback one:
  only this machine can reach it, fine;
- otherwise, if this driver joined without a token, the cluster takes drivers without one;
- otherwise a child process with no token at all (no `RAY_AUTH_*`, an empty home, so no
  `~/.ray/auth_token`) asks the head for its key list, as an intruder would: an answer means
  the cluster is open; a refusal for the missing token means it is closed.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Any

from magentic.errors import ConfigError

FLAG = "--ray-allow-unauthenticated"
PROBE_TIMEOUT_S = 60.0
SINGLE_MACHINE = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": every Ray port on 127.0.0.1
_OPEN, _REFUSED = 0, 3  # the probe child's exit codes; anything else: it could not tell


@dataclass(frozen=True)
class Exposure:
    """What the check found: where the cluster can be reached from a network (empty: only
    from this machine), and whether it runs jobs from a client that has no token."""

    reachable_at: tuple[str, ...]
    open: bool | None  # None: the probe could not tell
    detail: str = ""


def host_of(address: str) -> str:
    """The host of HOST:PORT (IPv6 in brackets or not)."""
    if address.startswith("["):
        return address[1 : address.index("]")]
    return address.rpartition(":")[0] or address


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: assume it is reachable from wherever it resolves


def stay_on_loopback() -> None:
    """Before Ray is imported, for a loopback address: Ray's single-machine mode (its default
    on macOS and Windows), in which it takes 127.0.0.1 as this machine's address instead of
    rewriting it to the network one, so a driver can join a cluster bound to loopback."""
    if "ray" not in sys.modules:
        os.environ.setdefault(SINGLE_MACHINE, "0")


def check(ray: Any, probed: tuple[bool | None, str] | None = None) -> Exposure:
    """Look at the cluster this process joined (blocking: it may run the probe child);
    `probed` is what `probe` found before joining, if it ran."""
    gcs = ray.get_runtime_context().gcs_address
    hosts = {host_of(gcs)} | {
        str(node.get("NodeManagerAddress")) for node in ray.nodes() if node.get("Alive")
    }
    reachable = tuple(sorted(h for h in hosts if h and not is_loopback(h)))
    if not reachable:
        return Exposure((), open=None)
    if probed is not None:
        return Exposure(reachable, *probed)
    if not driver_has_token():
        return Exposure(reachable, open=True, detail="this driver joined it without a token")
    return Exposure(reachable, *probe(gcs))


def refuse_tokenless_driver(address: str, probed: tuple[bool | None, str]) -> None:
    """A ConfigError when the cluster asks for a token and this driver has none (Ray itself
    would retry for a minute and then fail with a line that does not say why)."""
    if probed[0] is False and not driver_has_token():
        raise ConfigError(
            f"the Ray cluster at {address} asks for a token and this driver has none: set "
            "RAY_AUTH_MODE=token and the cluster's token (RAY_AUTH_TOKEN, or the file "
            "~/.ray/auth_token) here as on its nodes"
        )


def verdict(address: str, exposure: Exposure, *, allowed: bool) -> str | None:
    """None when the cluster is fine; a warning line when it is open but `allowed`; else a
    ConfigError (one line) that says what is wrong and how to close it."""
    if not exposure.reachable_at or exposure.open is False:
        return None
    where = ", ".join(exposure.reachable_at)
    if exposure.open:
        problem = (
            f"the Ray cluster at {address} runs code for anyone who reaches {where} "
            f"(no token authentication: {exposure.detail})"
        )
    else:
        problem = (
            f"could not confirm that the Ray cluster at {address} (reachable at {where}) "
            f"requires a token ({exposure.detail})"
        )
    if allowed:
        return f"warning: {problem}; going on because of {FLAG}"
    raise ConfigError(
        f"{problem}; start every node with RAY_AUTH_MODE=token and the cluster's token "
        f"(README: Benchmarks on a Ray cluster), or pass {FLAG} on a network only you reach"
    )


def driver_has_token() -> bool:
    """Whether this process sends Ray a token (RAY_AUTH_MODE=token)."""
    try:
        from ray._private.authentication.authentication_utils import is_token_auth_enabled
    except ImportError:  # a Ray before 2.52 has no authentication at all
        return False
    return bool(is_token_auth_enabled())


def probe(gcs: str) -> tuple[bool | None, str]:
    """Ask the head at `gcs` for its key list from a child process that has no token: (True,
    why) when it answers, (False, why) when it refuses for the token, (None, why) else."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    with tempfile.TemporaryDirectory(prefix="magentic-ray-probe-") as home:
        env |= {"RAY_AUTH_MODE": "disabled", "HOME": home}
        try:
            done = subprocess.run(
                [sys.executable, "-m", "magentic.bench.ray_exposure", gcs],
                env=env,
                capture_output=True,
                text=True,
                timeout=PROBE_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            return None, f"a client without a token got no answer in {PROBE_TIMEOUT_S:g} s"
    said = (done.stdout.strip().splitlines() or [""])[-1][:200]
    if done.returncode == _OPEN:
        return True, "its head answered a client that had no token"
    if done.returncode == _REFUSED:
        return False, said
    return None, said or f"the check ended with exit code {done.returncode}"


def _probe_main(gcs: str) -> int:
    """The probe child: one call to the head with no token (the environment has none)."""
    try:
        from ray._raylet import GcsClient  # type: ignore[attr-defined]

        GcsClient(address=gcs).internal_kv_keys(b"", namespace=None, timeout=10)
    except Exception as exc:  # the shape of Ray's errors varies between versions
        text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
        print(text[:200])
        unauthenticated = "Authentication" in type(exc).__name__ or "InvalidAuthToken" in text
        return _REFUSED if unauthenticated else 4
    print("open")
    return _OPEN


if __name__ == "__main__":
    sys.exit(_probe_main(sys.argv[1]))
