"""Another local user, for real: a system account made with `useradd`, and Python run as it.

The web view's tests play this user against a view the test's own user serves: the same
machine, the same loopback, but not the same person. Needs root (to add the user and to
start a process as it); without it the test says what is missing (see `require`).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
from typing import Any

from ..conftest import require

NAME = "magentic-intruder"
PYTHON = "/usr/bin/python3"  # the system's: the intruder cannot rely on our venv

# Requests as the intruder: argv[1] is a JSON list of [name, method, url, headers, body].
REQUESTS = r"""
import json, sys, urllib.error, urllib.request
out = {}
for name, method, url, headers, body in json.loads(sys.argv[1]):
    data = body.encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            out[name] = [response.status, response.read().decode("utf-8", "replace")]
    except urllib.error.HTTPError as error:
        out[name] = [error.code, error.read().decode("utf-8", "replace")]
    except OSError as error:
        out[name] = [0, type(error).__name__ + ": " + str(error)]
print(json.dumps(out))
"""

# Connect to a Unix socket as the intruder: argv[1] is its path.
CONNECT = r"""
import socket, sys
sock = socket.socket(socket.AF_UNIX)
try:
    sock.connect(sys.argv[1])
    print("connected")
except OSError as error:
    print(type(error).__name__)
"""


def intruder() -> tuple[int, int]:
    """The uid and gid of the second user, made on first use."""
    require(os.geteuid() == 0, "root, to add a second local user and run a process as it")
    require(shutil.which("useradd") is not None, "useradd, to add a second local user")
    require(os.access(PYTHON, os.X_OK), f"{PYTHON}, for the second user's requests")
    try:
        entry = pwd.getpwnam(NAME)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", NAME],
            capture_output=True,
            check=False,
        )
        entry = pwd.getpwnam(NAME)  # made now (or by a test running beside this one)
    assert entry.pw_uid != os.geteuid()
    return entry.pw_uid, entry.pw_gid


def run_as_intruder(code: str, *args: str) -> str:
    """Run `code` with the system Python as the second user; its stdout. Blocking."""
    uid, gid = intruder()
    done = subprocess.run(
        [PYTHON, "-I", "-c", code, *args],
        user=uid,
        group=gid,
        extra_groups=[],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
        env={"PATH": "/usr/bin:/bin", "NO_PROXY": "*"},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def requests_as_intruder(calls: list[list[Any]]) -> dict[str, list[Any]]:
    """[name, method, url, headers, body] each, sent by the second user: name -> [status, text]."""
    return json.loads(run_as_intruder(REQUESTS, json.dumps(calls)))
