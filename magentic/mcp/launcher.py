"""The keeper of one stdio MCP server: a small process between magentic and the server that
makes sure nothing the server starts outlives it, or outlives magentic.

    python -I -S launcher.py PARENT_PID CGROUP_DIR|- -- COMMAND [ARGS...]

It is run as a script, by path, with the standard library only (no magentic import: the
server's environment carries no PYTHONPATH, and it must start fast). In order, it:
- asks the kernel for SIGTERM when the thread that started it ends (`PR_SET_PDEATHSIG`),
  then checks that its parent is still PARENT_PID (it may have died before the ask). So a
  `kill -9` of magentic reaches the keeper at once. The signal follows the parent *thread*:
  magentic starts servers from its event loop's thread, which lives as long as the run;
- becomes a child subreaper (`PR_SET_CHILD_SUBREAPER`): whatever the server starts, even a
  grandchild that calls `setsid` or double-forks, stays below the keeper when its own
  parent dies, so the keeper can always find it in /proc;
- joins the run's cgroup (v2) when magentic made one, so `cgroup.kill` takes every
  descendant whatever it does (magentic's close and the next start's sweep use it);
- starts the server with our stdin, stdout and stderr, and reaps every child that ends;
- when the server ends, or the keeper is told to stop (SIGTERM, SIGHUP, SIGINT: magentic's
  close, or its death), kills every descendant, leaves and removes its cgroup, and exits as
  the server did (its exit code, or the same signal), so magentic reads the server's end.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
POLITE_S = 0.5  # a server told to stop by magentic's close may end on its own this long


def _prctl(option: int, value: int) -> bool:
    """Whether the kernel took the option (not on a system without prctl: not Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(option, value, 0, 0, 0) == 0)
    except (AttributeError, OSError):
        return False


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            tree.setdefault(int(fields[1]), []).append(int(name))
    return tree


def _descendants() -> list[int]:
    tree, todo, found = _children(), [os.getpid()], []
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _reap() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


def kill_descendants() -> None:
    """SIGKILL everything below us until nothing is left (a killed process cannot fork, so
    this ends); as a subreaper, every orphan of the server's tree is below us."""
    for _ in range(200):
        found = _descendants()
        if not found:
            return
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        _reap()


def leave_cgroup(cgroup: str) -> None:
    """Move out to the parent cgroup and remove ours, now empty: a keeper that outlived
    magentic leaves no empty cgroup behind (one that cannot is removed at the next sweep)."""
    if cgroup == "-":
        return
    with contextlib.suppress(OSError):
        with open(os.path.join(os.path.dirname(cgroup), "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
        os.rmdir(cgroup)


def _stop(parent: int, cgroup: str, server: list[int]) -> object:
    """The handler for SIGTERM, SIGHUP and SIGINT. From magentic's close (it is alive; the
    server, in our process group, got the same signal) the server has a moment to end on its
    own; when magentic died (our parent changed) everything goes at once."""

    def stop(signum: int, _frame: object) -> None:
        if server and os.getppid() == parent:
            until = time.monotonic() + POLITE_S
            with contextlib.suppress(ChildProcessError):
                while os.waitpid(server[0], os.WNOHANG)[0] == 0 and time.monotonic() < until:
                    time.sleep(0.01)
        kill_descendants()
        leave_cgroup(cgroup)
        os._exit(128 + signum)

    return stop


def main(argv: list[str]) -> None:
    parent, cgroup, sep, *command = argv
    if sep != "--" or not command:
        sys.stderr.write("launcher: usage: PARENT_PID CGROUP_DIR|- -- COMMAND [ARGS...]\n")
        os._exit(2)
    started: list[int] = []  # the server's pid, once it runs
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, _stop(int(parent), cgroup, started))  # type: ignore[arg-type]
    if not _prctl(PR_SET_PDEATHSIG, signal.SIGTERM):
        sys.stderr.write("launcher: no PR_SET_PDEATHSIG here; the server may outlive a kill\n")
    if os.getppid() != int(parent):  # magentic died before the ask took effect
        os._exit(128 + signal.SIGTERM)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    if cgroup != "-":
        with contextlib.suppress(OSError), open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))  # not joined: the subreaper and the sweep still hold
    try:
        server = subprocess.Popen(command)
    except OSError as error:
        sys.stderr.write(f"cannot start {command[0]}: {error.strerror or error}\n")
        os._exit(127)
    started.append(server.pid)
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            status = 0
            break
        if pid == server.pid:
            break
    kill_descendants()
    leave_cgroup(cgroup)
    if os.WIFSIGNALED(status):  # end the same way, so magentic reads "killed by signal N"
        with contextlib.suppress(OSError, ValueError):
            signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
        os.kill(os.getpid(), os.WTERMSIG(status))
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)


if __name__ == "__main__":
    main(sys.argv[1:])
