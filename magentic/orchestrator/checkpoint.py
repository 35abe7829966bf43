"""A run's checkpoint on disk: its format, the atomic writer, and the strict reader.

After planning and after every round the orchestrator saves what it needs to go on in a
new process (`magentic resume RUN_DIR`): the task ledger, counters, plan cursor, transcript,
instructions, budgets used, the config the run was made with (API keys left out), the
trace's event number and each agent's own state. It is one JSON file, `checkpoint.json`,
replaced atomically (a temporary file in the same folder, then a rename over the old one),
so a process killed at any moment leaves either the previous checkpoint or the new one,
never half of one. The round waits for that rename, so a finished round is never redone
after a `kill -9`, a crash or an OOM kill: the page cache outlives the process.

The fsync that makes the files survive a power cut or a kernel crash runs in a worker
thread right after the rename, off the round's path (on a shared VM disk one costs 6-9 ms,
more than the whole checkpoint budget of 5 ms a round). A power cut can so lose the last
save or two, and ext4's rename-over-replace flushes a replaced file's data before the
rename commits; the end of a run waits for every fsync.

Images of the transcript (screenshots, charts) are kept as files beside it, in
`checkpoint-images/`, named by their content's hash: each is written once, not re-encoded
into the JSON every round, which keeps a round's checkpoint small and fast.

The reader trusts nothing: a file that is truncated, edited into nonsense or of another
format version is refused with one line naming it (`CheckpointError`), before anything of
the run folder is touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import os
import re
import stat
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from magentic import secrets
from magentic.errors import CheckpointError
from magentic.llm.messages import ImagePart
from magentic.orchestrator import folder_trust
from magentic.orchestrator.ledger import Facts, Plan
from magentic.safe_fs import private_dir

log = logging.getLogger(__name__)

FORMAT = "magentic-checkpoint"
VERSION = 1
FILE_NAME = "checkpoint.json"
IMAGES_DIR = "checkpoint-images"
_IMAGE_NAME = re.compile(r"[0-9a-f]{32}\.(png|jpg|gif|webp|bin)")
_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}

Stage = Literal["started", "working", "ended"]
SavedStatus = Literal["running", "answered", "out_of_budget", "failed", "cancelled"]


# The format (pydantic: this is where JSON comes back in) -----------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ImageRef(_Strict):
    file: str
    mime: str = "image/png"
    detail: Literal["auto", "low", "high"] = "auto"
    width: int = Field(default=0, ge=0)
    height: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _plain_name(self) -> ImageRef:
        if not _IMAGE_NAME.fullmatch(self.file):  # never a path out of the images folder
            raise ValueError(f"image file name {self.file!r} is not one the writer makes")
        return self


class EntryState(_Strict):
    source: str
    text: str
    images: list[ImageRef] = Field(default_factory=list)
    files: list[str] = Field(default_factory=list)
    untrusted: bool | None = None


class UsageState(_Strict):
    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)
    cached_tokens: int = Field(default=0, ge=0)
    cost: float = Field(default=0.0, ge=0)


class MeterState(_Strict):
    total: UsageState = Field(default_factory=UsageState)
    by_role: dict[str, UsageState] = Field(default_factory=dict)
    calls: int = Field(default=0, ge=0)
    failed_calls: int = Field(default=0, ge=0)


class Checkpoint(_Strict):
    """Version 1. `stage`: "started" (no plan yet), "working" (rounds go on), "ended" (the
    final answer was given: nothing to resume). `status` is how the process last left it:
    "running" when it died without a word (kill -9)."""

    format: Literal["magentic-checkpoint"]
    version: int
    run_id: str
    task: str
    files: list[str] = Field(default_factory=list)
    stage: Stage
    status: SavedStatus = "running"
    stop_reason: str = ""
    answer: str = ""
    rounds: int = Field(ge=0)
    stalls: int = Field(ge=0)
    replans: int = Field(ge=0)
    facts: Facts = Field(default_factory=Facts)
    plan: Plan | None = None
    cursor_done: int = Field(default=0, ge=0)
    cursor_agents: list[str] = Field(default_factory=list)
    transcript: list[EntryState] = Field(default_factory=list)
    instructions: list[str] = Field(default_factory=list)
    usage: MeterState = Field(default_factory=MeterState)
    elapsed_s: float = Field(ge=0)
    seq: int = Field(ge=0)
    config: dict[str, Any]
    agents: dict[str, dict[str, Any]] = Field(default_factory=dict)
    saved_at: float = 0.0
    # How far the run's call journal went (bytes): a resume answers from what came after.
    journal_bytes: int = Field(default=0, ge=0)
    # How far the side-effect journal went: a resumed round's repeated actions are answered
    # from what came after (see `magentic.control.effects`).
    effects_bytes: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> Checkpoint:
        if self.stage != "started" and self.plan is None:
            raise ValueError(f"stage {self.stage!r} needs a plan, and there is none")
        if self.plan is not None and self.cursor_done > len(self.plan.steps):
            raise ValueError("the plan cursor is past the plan's last step")
        if self.stage == "ended" and self.status not in ("answered", "failed"):
            raise ValueError(f"an ended run cannot have status {self.status!r}")
        return self

    @property
    def resumable(self) -> bool:
        return self.stage != "ended"


# Writing --------------------------------------------------------------------------------
def image_ref(image: ImagePart, cache: dict[int, tuple[ImagePart, str]]) -> tuple[str, dict]:
    """The file name an image is kept under (hash of its bytes) and its JSON reference.
    `cache` remembers names by object, so an image is hashed once, not every round."""
    known = cache.get(id(image))
    if known is None or known[0] is not image:
        digest = hashlib.sha256(image.data).hexdigest()[:32]
        known = (image, f"{digest}.{_EXTENSIONS.get(image.mime, 'bin')}")
        cache[id(image)] = known
    name = known[1]
    ref = {"file": name, "mime": image.mime, "detail": image.detail}
    ref.update(width=image.width, height=image.height)
    return name, ref


class CheckpointWriter:
    """Saves a run's checkpoints in its folder. One per run; `base` holds what never changes
    in a run (format, run id, config record, attached files)."""

    def __init__(self, run_dir: Path, base: dict[str, Any]) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / FILE_NAME
        self.base = {"format": FORMAT, "version": VERSION, **base}
        self.last: dict[str, Any] | None = None  # the last complete state saved
        self.image_names: dict[int, tuple[ImagePart, str]] = {}
        self._written: set[str] = set()
        self._syncing: set[asyncio.Future[None]] = set()
        self._counter = itertools.count()
        self.failing = False  # a write failed (said once in the log)
        self._private = False  # the folder's group and other write bits are off

    async def save(self, state: dict[str, Any], images: dict[str, bytes]) -> None:
        """Save a complete state (a round's end); the images are those its transcript names."""
        record = {**self.base, **state}
        self.last = record
        fresh = {n: d for n, d in images.items() if n not in self._written}
        try:
            written = await asyncio.to_thread(self._write, record, fresh)
        except OSError as error:  # a full disk, a folder gone: the run goes on without
            self._failed(error)
            return
        self._written.update(fresh)
        syncing = asyncio.ensure_future(asyncio.to_thread(self._sync, written))
        self._syncing.add(syncing)
        syncing.add_done_callback(self._synced)

    def _failed(self, error: OSError) -> None:
        if not self.failing:
            log.error("the checkpoint %s cannot be written (%s); the run goes on", self.path, error)
        self.failing = True

    def _synced(self, task: asyncio.Future[None]) -> None:
        self._syncing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("the checkpoint %s could not be synced: %s", self.path, task.exception())

    async def flush(self) -> None:
        """Wait for the fsyncs still running (the end of a run)."""
        if self._syncing:
            await asyncio.gather(*list(self._syncing), return_exceptions=True)

    async def end(self, *, ended: bool, **changes: Any) -> None:
        """Mark how the run ended on the last complete state (never on a half-done round's).

        If the task is cancelled while the thread writes, the write is done again in place:
        the run's last word must reach the disk (each write has its own temporary file)."""
        if self.last is None:
            return
        record = {**self.last, **changes}
        if ended:
            record["stage"] = "ended"
        self.last = record
        try:
            await self.flush()
            await asyncio.to_thread(self._write_and_sync, record)
        except OSError as error:
            self._failed(error)
        except asyncio.CancelledError:
            with contextlib.suppress(OSError):
                self._write_and_sync(record)
            raise

    def _write_and_sync(self, record: dict[str, Any]) -> None:
        self._sync(self._write(record, {}))

    def _write(self, record: dict[str, Any], images: dict[str, bytes]) -> list[Path]:
        """Write the images not yet on disk, then the checkpoint; the paths written."""
        written: list[Path] = []
        if not self._private:
            # A resume refuses what group or others may write (folder_trust.py); a umask
            # of 002 must not make our own run folder one it refuses.
            for path in (self.run_dir, self.run_dir / "trace.jsonl"):
                _no_group_write(path)
            self._private = True
        if images:
            folder = private_dir(self.run_dir / IMAGES_DIR)  # 0700, never through a link
            for name, data in images.items():
                target = folder / name
                if not target.exists():
                    _atomic_write(target, data, self._tmp(target))
                    written.append(target)
        scrubbed = {
            k: secrets.redact_values(v) if k in _TEXT_FIELDS else v for k, v in record.items()
        }
        text = json.dumps(scrubbed, ensure_ascii=False, default=str)  # an agent's odd value
        _atomic_write(self.path, text.encode("utf-8", "backslashreplace"), self._tmp(self.path))
        written.append(self.path)
        return written

    def _sync(self, paths: list[Path]) -> None:
        """fsync the files, then their folders (for the renames)."""
        for path in [*paths, *{p.parent for p in paths}]:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def _tmp(self, target: Path) -> Path:
        return target.with_name(f".{target.name}.{os.getpid()}-{next(self._counter)}.tmp")


# Fields of words (the task, the conversation, the ledger, the answer): API keys are
# redacted from them as from the trace. Value by value, never over the JSON text, which a
# secret that looks like a number could break. Agents' state is kept exact (a cookie must
# come back as it was): the run folder is as private as a browser profile.
_TEXT_FIELDS = {"task", "transcript", "instructions", "facts", "plan", "answer", "stop_reason"}


def _no_group_write(path: Path) -> None:
    """Take the group's and others' write permission off a path of ours (no link)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode) or info.st_uid != os.geteuid():
        return
    if info.st_mode & 0o022:
        os.chmod(path, stat.S_IMODE(info.st_mode) & ~0o022)


def _atomic_write(target: Path, data: bytes, tmp: Path) -> None:
    """Write a temporary file beside `target`, then rename it over: a reader (or a killed
    process) sees the old file or the new one, whole. `_sync` makes it durable."""
    try:
        # Owner-only: it holds the browser's cookies and the MCP servers' env, like a profile.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with open(fd, "wb") as file:
            file.write(data)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# Reading --------------------------------------------------------------------------------
MAX_DEPTH = 64  # nesting a checkpoint of ours never comes near; deeper is someone's trap


def _too_deep(data: Any) -> bool:
    """Whether JSON data nests past MAX_DEPTH (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return False


def load_checkpoint(run_dir: Path) -> Checkpoint:
    """The run folder's checkpoint, checked through and through. Blocking; reads only.

    The folder must be the user's own (`folder_trust.check_run_folder`); nothing is read
    through a symbolic link, and every path the checkpoint names lies inside the folder."""
    run_dir = Path(run_dir)
    path = run_dir / FILE_NAME
    folder_trust.check_run_folder(run_dir)
    try:
        raw = folder_trust.read_file(path)
    except FileNotFoundError:
        raise CheckpointError(
            f"{path}: no checkpoint here, so there is nothing to resume"
        ) from None
    except OSError as error:
        raise CheckpointError(f"{path}: not a readable checkpoint: {error}") from None
    try:
        data = json.loads(raw)
    except RecursionError:
        raise CheckpointError(f"{path}: not a valid checkpoint: nested too deeply") from None
    except (OSError, ValueError) as error:  # JSONDecodeError and UnicodeDecodeError too
        raise CheckpointError(
            f"{path}: not a readable checkpoint (truncated or edited?): {error}"
        ) from None
    if _too_deep(data):
        raise CheckpointError(f"{path}: not a valid checkpoint: nested too deeply")
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a magentic checkpoint")
    if data.get("version") != VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {data.get('version')!r}; this magentic "
            f"resumes version {VERSION} only"
        )
    try:
        checkpoint = Checkpoint.model_validate(data)
    except ValidationError as error:
        item = error.errors()[0]
        where = ".".join(str(p) for p in item["loc"]) or "checkpoint"
        raise CheckpointError(f"{path}: not a valid checkpoint: {where}: {item['msg']}") from None
    except RecursionError:
        raise CheckpointError(f"{path}: not a valid checkpoint: nested too deeply") from None
    for name in checkpoint.files:
        if folder_trust.inside(name, run_dir) is None:
            raise CheckpointError(
                f"{path}: its attached file {name!r} is not inside the run folder "
                "(or is reached through a link)"
            )
    for entry in checkpoint.transcript:
        for ref in entry.images:
            if not (run_dir / IMAGES_DIR / ref.file).is_file():
                raise CheckpointError(f"{path}: its image {IMAGES_DIR}/{ref.file} is missing")
    return checkpoint


def read_images(run_dir: Path, checkpoint: Checkpoint) -> dict[str, bytes]:
    """The transcript's images, by file name, none read through a link. Blocking."""
    images: dict[str, bytes] = {}
    for entry in checkpoint.transcript:
        for ref in entry.images:
            if ref.file not in images:
                images[ref.file] = folder_trust.read_file(Path(run_dir) / IMAGES_DIR / ref.file)
    return images
