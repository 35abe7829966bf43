"""File conversion in a child process with a memory limit, killed at its deadline or on cancel.

markitdown runs arbitrary parsers (mammoth, pdfminer, openpyxl, ...) on untrusted bytes. In
a thread, a zip bomb could take all the machine's memory and a parser stuck in a loop could
never be stopped (a thread cannot be killed). So conversions run in one long-lived worker
process per `Converter`:

- the worker limits its own address space (RLIMIT_AS) before importing anything, so a bomb
  that gets past the size check ends in MemoryError in the worker, never in ours;
- it dies with us (PR_SET_DEATHSIG), exits by itself after a while idle, and runs in its own
  session, so no stray converter outlives the run or catches the terminal's Ctrl-C;
- its environment carries no API keys or tokens;
- the caller's timeout or cancellation kills it (SIGKILL) and the next conversion starts a
  fresh one (about 1.5 s, markitdown's import), so nothing is ever left stuck.

Requests and replies are JSON lines on the worker's stdin and a private copy of its stdout
(the real stdout goes to stderr, so a library that prints cannot break the protocol). The
worker acknowledges each request before converting, so a worker found dead before the
acknowledgement (it had exited idle, or was killed) is replaced and asked again, while one
that dies after it is reported as the file's doing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import stat
import sys
import tempfile
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from magentic import safe_fs
from magentic.agents.file_convert import (
    MAX_TEXT_CHARS,
    Document,
    Refused,
    convert_file,
    human_size,
)
from magentic.agents.file_zipguard import ZipLimits

_SECRET_ENV = re.compile(r"(_API_KEY|_TOKEN|_SECRET|_PASSWORD)$", re.IGNORECASE)
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
# A reply carries at most MAX_TEXT_CHARS characters; JSON may write one as up to 6 bytes.
_REPLY_LIMIT = 6 * MAX_TEXT_CHARS + (1 << 20)


def peak_rss_kb(pid: int | str = "self") -> int | None:
    """VmHWM (the peak resident set) of a process, from /proc; None where unreadable."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


class Converter:
    """Converted documents, cached by (path, mtime, size), made by the worker process.

    One conversion at a time; the cache lives here, in the parent, so reopening an unchanged
    file costs a stat and a dictionary lookup and never wakes the worker.
    """

    def __init__(
        self,
        *,
        max_file_mb: float = 50.0,
        cache_size: int = 16,
        memory_mb: int = 1024,
        zip_limits: ZipLimits | None = None,
        idle_exit_s: float = 300.0,
    ) -> None:
        self.max_bytes = int(max_file_mb * 1024 * 1024)
        self.cache_size = cache_size
        self.memory_mb = memory_mb
        self.zip_limits = zip_limits or ZipLimits()
        self.idle_exit_s = idle_exit_s
        self._cache: OrderedDict[tuple[str, int, int], Document] = OrderedDict()
        self._lock: asyncio.Lock | None = None  # one conversion at a time
        self._start_lock: asyncio.Lock | None = None  # one worker start at a time
        self._proc: asyncio.subprocess.Process | None = None
        self._warming: asyncio.Future[None] | None = None
        self.worker_peak_rss_kb: int | None = None  # of the last worker, as it last reported

    @property
    def worker_pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    async def convert(self, path: Path) -> Document:
        """The document at `path`; raises Refused with the model's observation."""
        try:
            st = await asyncio.to_thread(path.stat)
        except OSError as exc:
            raise Refused(f"Cannot read {path}: {exc.strerror or exc}.") from exc
        if not stat.S_ISREG(st.st_mode):
            raise Refused(f"{path.name} is not a regular file (a pipe or a device); not read.")
        if st.st_size > self.max_bytes:
            raise Refused(
                f"{path.name} is {human_size(st.st_size)}, over the {human_size(self.max_bytes)} "
                "limit for reading files; ask the ComputerTerminal to extract the part you need."
            )
        key = (str(path), st.st_mtime_ns, st.st_size)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            try:
                document = await self._ask(path)
            except _GoneBefore:  # it had exited (idle, or killed) before it got the request
                try:
                    document = await self._ask(path)
                except _GoneBefore:
                    raise Refused(
                        f"Could not read {path.name}: the file conversion process ended before "
                        "it could start on it, twice."
                    ) from None
        self._cache[key] = document
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return document

    def clear_cache(self) -> None:
        """Forget every converted document (the next open converts again)."""
        self._cache.clear()

    async def _ask(self, path: Path) -> Document:
        try:
            proc = await self._worker()
            request = {"path": os.fsencode(path).decode("latin-1")}
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(json.dumps(request).encode() + b"\n")
                await proc.stdin.drain()
            except (BrokenPipeError, ConnectionResetError):
                raise _GoneBefore from None
            if not (await proc.stdout.readline()).startswith(b'{"working"'):
                raise _GoneBefore  # no acknowledgement: it never read the request
            line = await proc.stdout.readline()
        except _GoneBefore:
            await self.close()
            raise
        except ValueError:  # asyncio's LimitOverrunError: a reply past _REPLY_LIMIT
            await self.close()
            raise Refused(
                f"Could not read {path.name}: its converted text is too large to show; ask the "
                "ComputerTerminal to extract the part you need."
            ) from None
        except (asyncio.CancelledError, Exception):
            # A timeout, a cancel or a broken pipe: the worker's state is unknown. Kill it.
            await self.close()
            raise
        if not line.endswith(b"\n"):  # the worker died (a crash, or the kernel's OOM killer)
            self._proc = None
            await _kill(proc)
            raise Refused(
                f"Could not read {path.name}: the conversion process died while reading it "
                f"({_death(proc)})."
            )
        reply = json.loads(line.decode("utf-8", "surrogatepass"))
        self.worker_peak_rss_kb = reply.get("peak_rss_kb") or self.worker_peak_rss_kb
        if reply.get("memory"):
            await self.close()
            raise Refused(
                f"Could not read {path.name}: converting it needed more than the "
                f"{self.memory_mb} MB memory limit for reading files (a decompression bomb, or "
                "too large); ask the ComputerTerminal to extract the part you need."
            )
        if "refused" in reply:
            raise Refused(str(reply["refused"]))
        fields = reply["document"]
        return Document(path, fields["kind"], fields["title"], fields["text"], int(fields["size"]))

    def warm_up(self) -> None:
        """Start the worker in the background (it takes about 1.5 s to import markitdown),
        so that it is ready by the time a model has chosen to open a file."""
        if self._proc is not None or (self._warming is not None and not self._warming.done()):
            return
        self._warming = asyncio.ensure_future(self._start_quietly())

    async def _start_quietly(self) -> None:
        try:
            await self._worker()
        except (Refused, OSError):  # the next conversion starts again, and says why
            pass

    async def _worker(self) -> asyncio.subprocess.Process:
        """The running worker, started (and awaited until ready) if there is none."""
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self._proc is not None and self._proc.returncode is None:
                return self._proc
            settings = {
                "memory_mb": self.memory_mb,
                "max_bytes": self.max_bytes,
                "zip_limits": asdict(self.zip_limits),
                "idle_exit_s": self.idle_exit_s,
            }
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "magentic.agents.file_worker",
                json.dumps(settings),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
                env=_worker_env(),
                start_new_session=True,
                limit=_REPLY_LIMIT,
            )
            assert proc.stdout is not None
            try:
                ready = await proc.stdout.readline()
            except BaseException:  # cancelled while it starts: it must not outlive us
                await _kill(proc)
                raise
            if not ready.startswith(b'{"ready"'):
                await _kill(proc)
                raise Refused(f"The file conversion process could not start ({_death(proc)}).")
            self._proc = proc
            return proc

    async def close(self) -> None:
        """Kill the worker, if any (its state is unknown or it is no longer needed)."""
        warming, self._warming = self._warming, None
        if warming is not None and not warming.done():
            warming.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await warming
        proc, self._proc = self._proc, None
        if proc is not None:
            self.worker_peak_rss_kb = peak_rss_kb(proc.pid) or self.worker_peak_rss_kb
            await _kill(proc)


class _GoneBefore(Exception):
    """The worker was gone before it received the request: safe to ask a new one."""


def _death(proc: asyncio.subprocess.Process) -> str:
    code = proc.returncode
    if code is not None and code < 0:
        return f"killed by signal {-code}; out of memory?"
    return f"exit code {code}" if code is not None else "no reply"


async def _kill(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL and reap (a conversion worker holds no state worth a gentler stop)."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    with contextlib.suppress(ProcessLookupError):
        await proc.wait()
    if proc.stdin is not None:
        proc.stdin.close()


def _worker_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not _SECRET_ENV.search(k)}
    env["MALLOC_ARENA_MAX"] = "2"  # per-thread malloc arenas reserve address space
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
    return env


# -- the worker process ------------------------------------------------------------------


def _limit_memory(memory_mb: int) -> None:
    import resource

    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _die_with_parent() -> None:
    """Linux's PR_SET_PDEATHSIG: SIGKILL this process when the parent goes."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:  # the parent went before the line above ran
        os._exit(1)


def _serve(settings: dict[str, Any]) -> int:
    from magentic.agents.file_convert import _markitdown

    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever a library prints goes to stderr, not into the replies
    sys.stdout = sys.stderr
    limits = ZipLimits(**settings["zip_limits"])
    max_bytes = int(settings["max_bytes"])
    idle = max(1, int(settings["idle_exit_s"]))

    def send(reply: dict[str, Any]) -> None:
        reply["peak_rss_kb"] = peak_rss_kb()
        out.write(json.dumps(reply, ensure_ascii=False).encode("utf-8", "surrogatepass") + b"\n")
        out.flush()

    try:
        _markitdown()
    except MemoryError:
        return 3
    send({"ready": True})
    while True:
        signal.alarm(idle)  # idle too long: SIGALRM's default action ends the process
        line = sys.stdin.buffer.readline()
        signal.alarm(0)
        if not line:
            return 0
        path = Path(os.fsdecode(json.loads(line)["path"].encode("latin-1")))
        out.write(b'{"working": true}\n')  # the request arrived: from here a death is the file's
        out.flush()
        try:
            with pinned(path) as alias:
                document = convert_file(alias, max_bytes=max_bytes, zip_limits=limits)
        except Refused as refused:
            send({"refused": str(refused)})
        except MemoryError:  # the frames that held the memory are gone by now
            send({"memory": True})
            return 3
        except Exception as exc:  # a converter bug: an observation, and the worker goes on
            send({"refused": f"Could not read {path.name}: {type(exc).__name__}: {exc}."})
        else:
            send(
                {
                    "document": {
                        "kind": document.kind,
                        "title": document.title,
                        "text": document.text,
                        "size": document.size,
                    }
                }
            )


@contextlib.contextmanager
def pinned(path: Path) -> Iterator[Path]:
    """`path` as one fixed file for the whole conversion: why, because the FileSurfer's
    checks (inside an allowed folder, not a link) happen in the parent, and code in the
    sandbox can swap a workspace folder for a link to a host folder before the converters
    open the name, several times over (stat, the container check, markitdown, ffmpeg).

    So the file is opened once here, walking the checked (already resolved, link-free) path
    from `/` without following any link, and the converters get a private alias that leads
    to that open file (`/proc/<this pid>/fd/N`, which child tools such as ffmpeg can open
    too) under the file's own name, so its type is still read from its name."""
    try:
        handle = safe_fs.open_read(Path("/"), path.relative_to("/"))
    except (OSError, ValueError) as exc:
        why = getattr(exc, "strerror", None) or exc
        raise Refused(
            f"Cannot read {path.name}: it could not be opened as the file that was checked ({why}); not read."
        ) from None
    with handle, tempfile.TemporaryDirectory(prefix="magentic-pin-") as scratch:
        alias = Path(scratch) / path.name
        alias.symlink_to(f"/proc/{os.getpid()}/fd/{handle.fileno()}")
        yield alias


def main(argv: list[str]) -> int:
    settings = json.loads(argv[0])
    _limit_memory(int(settings["memory_mb"]))
    _die_with_parent()
    return _serve(settings)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
