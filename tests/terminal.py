"""A real pseudo-terminal around a child process: what a person at a terminal sees and types.

The child gets the pty as its controlling terminal, so a typed Ctrl-C (`\\x03`) reaches it as
the kernel's SIGINT, as it does for a person. Tests wait for what the child printed
(`expect`), never for time to pass.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import termios
import threading
import time
from pathlib import Path

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][A-Z0-9]|\r")


def _take_terminal() -> None:  # in the child, after setsid: the pty becomes its terminal
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    def __init__(self, argv: list[str], *, cwd: Path, env: dict[str, str]) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        self.master = master
        self.process = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=cwd,
            env=env,
            start_new_session=True,
            preexec_fn=_take_terminal,
        )
        os.close(slave)
        self._raw = bytearray()
        self._seen = 0  # how much of the screen text `expect` has consumed
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # the child closed its side
                data = b""
            with self._changed:
                if data:
                    self._raw += data
                self._changed.notify_all()
            if not data:
                return

    @property
    def text(self) -> str:
        """Everything shown so far, without colours and cursor moves."""
        return _ANSI.sub("", self._raw.decode(errors="replace"))

    def expect(self, needle: str, timeout: float = 60.0) -> str:
        """Wait until `needle` appears after what was last expected; the text up to it."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                text = self.text
                found = text.find(needle, self._seen)
                if found >= 0:
                    before, self._seen = text[self._seen : found], found + len(needle)
                    return before
                if not self._reader.is_alive():
                    raise AssertionError(f"ended before {needle!r} appeared:\n{text[-3000:]}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{needle!r} did not appear:\n{text[-3000:]}")
                self._changed.wait(left)

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def wait(self, timeout: float = 60.0) -> int:
        code = self.process.wait(timeout)
        self._reader.join(timeout)
        return code

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._reader.join(10)
        os.close(self.master)
