"""What of the host a bubblewrap sandbox sees: the runtime and the interpreter, read-only.

Nothing else: no home folders, no /work or other projects, no runs (their traces and
workspaces), no /var, /srv, /opt or /mnt, and of /etc only what programs need to start
(the loader's cache, alternatives, fonts, certificates, time zone). The user database is
made up for the sandbox, so neither /etc/passwd nor /etc/shadow is read from the host.
The workspace is added by the executor, writable, at /workspace.
"""

from __future__ import annotations

import functools
import glob
import json
import os
import subprocess
from dataclasses import dataclass

from magentic.errors import SandboxError

# The system runtime: programs, shared libraries, the system's Python and its packages.
_RUNTIME = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# The few files of /etc that programs read to start and to render text or charts.
_ETC = (
    "alternatives",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "fonts",
    "ssl",
    "ca-certificates",
    "localtime",
    "timezone",
    "mime.types",
    "nsswitch.conf",
    "host.conf",
    "gai.conf",
    "os-release",
    "debian_version",
    "matplotlibrc",
)
_ETC_GLOBS = ("python3*",)  # Debian's sitecustomize lives under /etc/python3.X
_PROBE = (
    "import json, sys\n"
    "print(json.dumps([sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,"
    " *sys.path]))"
)


@dataclass(frozen=True)
class Mounts:
    """bwrap arguments that build the sandbox's read-only view of the host."""

    args: tuple[str, ...]
    paths: tuple[str, ...]  # the host paths bound, for tests and the doctor


@functools.lru_cache(maxsize=8)
def runtime_mounts(python: str) -> Mounts:
    """The mounts for code run by `python` (a real interpreter path). Blocking; asked
    once per interpreter and process (the host's layout does not change under a run)."""
    wanted = [p for p in _RUNTIME if os.path.lexists(p)]
    wanted += [p for p in (f"/etc/{name}" for name in _ETC) if os.path.lexists(p)]
    for pattern in _ETC_GLOBS:
        wanted += sorted(glob.glob(f"/etc/{pattern}"))
    wanted += _interpreter_paths(python)
    args: list[str] = []
    bound: list[str] = []
    for path in sorted(set(wanted), key=lambda p: (p.count("/"), p)):
        if any(path == b or path.startswith(b.rstrip("/") + "/") for b in bound):
            continue  # inside a folder bound already
        if os.path.islink(path) and path in _RUNTIME:
            args += ["--symlink", os.readlink(path), path]  # /bin -> usr/bin, as on the host
        else:
            args += ["--ro-bind", path, path]
        bound.append(path)
    return Mounts(tuple(args), tuple(bound))


def _interpreter_paths(python: str) -> list[str]:
    """The interpreter's installation and package folders (a venv and its base Python).

    Folders that a .pth file adds from elsewhere (an editable project checkout, say) are
    left out: they are a project's files, not the interpreter's packages.
    """
    try:
        done = subprocess.run(
            [python, "-I", "-c", _PROBE], capture_output=True, text=True, timeout=30, check=True
        )
        listed = [str(p) for p in json.loads(done.stdout)]
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise SandboxError(f"cannot ask {python} where its packages are: {exc}") from exc
    prefixes = {os.path.realpath(p) for p in listed[:4] if p}
    found = set(prefixes) | {os.path.dirname(os.path.realpath(python))}
    for entry in listed[4:]:
        real = os.path.realpath(entry) if entry else ""
        if not real or not os.path.exists(real):
            continue
        inside = any(real == p or real.startswith(p.rstrip("/") + "/") for p in prefixes)
        if inside or os.path.basename(real) in ("site-packages", "dist-packages"):
            found.add(real)
    return sorted(p for p in found if p not in ("/", "") and os.path.exists(p))


def user_db(uid: int, gid: int) -> tuple[bytes, bytes]:
    """/etc/passwd and /etc/group for the sandbox: its one user, no host accounts."""
    passwd = f"root:x:0:0::/nonexistent:/usr/sbin/nologin\nsandbox:x:{uid}:{gid}::/tmp:/bin/sh\n"
    group = f"root:x:0:\nsandbox:x:{gid}:\n"
    return passwd.encode(), group.encode()
