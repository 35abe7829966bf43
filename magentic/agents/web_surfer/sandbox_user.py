"""Chromium keeps its own sandbox when magentic runs as root, by running as another user.

Chromium refuses to sandbox itself as root; the usual answer, `--no-sandbox`, leaves every
renderer with the run's full privileges. Instead, as root, we start Chromium through a small
wrapper that hands the profile folder Playwright made to an unprivileged user
(`[web] sandbox_user`, made by `scripts/install --browser`) and `exec`s Chromium as that user
with `setpriv`. Chromium then builds its namespace sandbox and seccomp filters as it would
for anyone. Where that cannot work (no such user, no setpriv, a headed display only root may
use) `prepare` says why, once, and the caller falls back to `--no-sandbox`.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

_WRAPPER = """#!/bin/sh
# Made by magentic: start Chromium as {user}, so it keeps its own sandbox under root.
dir=""
for arg in "$@"; do
  case "$arg" in
    --user-data-dir=*) dir="${{arg#--user-data-dir=}}" ;;
  esac
done
if [ -n "$dir" ]; then
  chown -R {uid}:{gid} "$dir" || exit 1
  export HOME="$dir"
fi
exec {setpriv} --reuid={uid} --regid={gid} --clear-groups -- {chromium} "$@"
"""


@dataclass
class SandboxPlan:
    """How Chromium will be started: `executable` to launch, and whether `--no-sandbox`."""

    executable: str
    no_sandbox: bool
    reason: str  # why there is no sandbox (empty when there is one)
    uid: int | None = None
    gid: int | None = None

    def hand_over(self, path: Path) -> None:
        """Give a folder Chromium must write (downloads) to the user it runs as."""
        if self.uid is not None and self.gid is not None:
            os.chown(path, self.uid, self.gid)


def running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def user_exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return True


def prepare(chromium: str, user: str, workdir: Path, *, headless: bool) -> SandboxPlan:
    """The launch plan for `chromium`; as root, a wrapper in `workdir` that drops to `user`."""
    if not running_as_root():
        return SandboxPlan(chromium, no_sandbox=False, reason="")
    if not user:
        return _unsandboxed(chromium, "[web] sandbox_user is empty")
    if not headless:
        return _unsandboxed(chromium, "a headed browser must use root's display")
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return _unsandboxed(chromium, f"there is no user {user!r} (scripts/install --browser)")
    if entry.pw_uid == 0:
        return _unsandboxed(chromium, f"the user {user!r} is root")
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return _unsandboxed(chromium, "setpriv (util-linux) is not installed")
    workdir.chmod(0o755)  # the user must reach the downloads folder inside it
    wrapper = workdir / "chromium-as-user"
    wrapper.write_text(
        _WRAPPER.format(
            user=user,
            uid=entry.pw_uid,
            gid=entry.pw_gid,
            setpriv=shlex.quote(setpriv),
            chromium=shlex.quote(chromium),
        ),
        encoding="utf-8",
    )
    wrapper.chmod(0o755)
    return SandboxPlan(str(wrapper), False, "", entry.pw_uid, entry.pw_gid)


def _unsandboxed(chromium: str, why: str) -> SandboxPlan:
    return SandboxPlan(chromium, no_sandbox=True, reason=why)
