"""What one endpoint and model can take, learned from its answers and remembered.

An OpenAI-compatible server may lack JSON schema output, JSON mode, native tools, images or
message content given as a list of parts; some answer such a request with a 400, others
(llama.cpp's server) with a 500. `Capabilities` is the one owner of that knowledge for a
(base URL, model) pair: the client asks it how to shape a request and tells it when the
endpoint refused a feature; the step-down holds for the rest of the run, and a
`CapabilityMemory` with a file keeps it for the next run. The kind of server, identified
without a model call (`servers.py`), is kept beside it, so a llama.cpp server is asked in
the form it takes from the first request on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

log = logging.getLogger(__name__)

StructuredMode = Literal["json_schema", "json_object", "text"]
Feature = Literal[
    "json_schema", "json_object", "tools", "list_content", "vision", "stream_usage", "stream"
]

UNKNOWN_KIND_TTL_S = 24 * 3600.0  # an endpoint of no kind we know is asked again a day on

# Structured modes from the best to the simplest; "text" is always accepted.
_STRUCTURED_ORDER: list[StructuredMode] = ["json_schema", "json_object", "text"]


@dataclass
class Capabilities:
    """The request shapes an endpoint accepts. Starts optimistic; only ever steps down."""

    structured: StructuredMode = "json_schema"
    tools: bool = True
    vision: bool = True
    list_content: bool = True
    stream: bool = True
    stream_usage: bool = True  # `stream_options: {include_usage}` accepted
    context_tokens: int | None = None
    context_probed: bool = False  # whether the server's informational routes were asked
    # The kind of server (`servers.py`): it decides how a schema-constrained reply is asked
    # for. None: not identified yet; "unknown": asked, and it is none we know.
    server: str | None = None
    # When the kind was learned (seconds since the epoch): an "unknown" is asked again once
    # it is older than UNKNOWN_KIND_TTL_S, as the server at that address may have changed.
    server_checked: float | None = None
    # The probe in flight, awaited by every client of the endpoint (never saved).
    probing: asyncio.Future[None] | None = field(default=None, repr=False, compare=False)

    def step_down(self, feature: str) -> bool:
        """Stop using `feature`; False when there is nothing simpler to fall back to."""
        if feature in _STRUCTURED_ORDER:
            refused = _STRUCTURED_ORDER.index(feature)
            if _STRUCTURED_ORDER.index(self.structured) <= refused:
                self.structured = _STRUCTURED_ORDER[refused + 1]
            return True
        if feature == "tools" and self.tools:
            self.tools = False
            return True
        if feature == "list_content" and self.list_content:
            self.list_content = False
            return True
        if feature == "vision" and self.vision:
            self.vision = False
            return True
        if feature == "stream_usage" and self.stream_usage:
            self.stream_usage = False
            return True
        if feature == "stream" and self.stream:
            self.stream = False
            return True
        return False

    def to_json(self) -> dict[str, Any]:
        saved = asdict(replace(self, probing=None))
        saved.pop("probing", None)
        return saved

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Capabilities:
        known = {f.name for f in fields(cls)} - {"probing"}
        caps = cls(**{k: v for k, v in data.items() if k in known})
        caps.context_probed = False  # a server may restart with another size: ask each run
        if caps.structured not in ("json_schema", "json_object", "text"):
            caps.structured = "json_schema"
        if not isinstance(caps.server, str):
            caps.server = None
        if not isinstance(caps.server_checked, (int, float)):
            caps.server_checked = None
        if caps.server == "unknown" and (
            caps.server_checked is None or time.time() - caps.server_checked > UNKNOWN_KIND_TTL_S
        ):  # stale, or written by a version that took a dead server for an unknown one
            caps.server, caps.server_checked = None, None
        return caps

    @property
    def recorded(self) -> bool:
        """Whether an earlier run already learned all identification would tell: the kind,
        and the context size where the kind says it. Such an endpoint is not asked again
        (a context size that shrank meanwhile is met by the server's refusal and shrinks)."""
        return self.server is not None and (self.server == "unknown" or bool(self.context_tokens))


def memory_key(base_url: str | None, model: str) -> str:
    return f"{(base_url or 'openai').rstrip('/')}|{model}"


class CapabilityMemory:
    """Capabilities per (base URL, model), shared by the clients of a run.

    With a `path`, what was learned is loaded from and saved to that JSON file (in the cache
    folder), so the next run starts with the shapes that work. Without one it lives only as
    long as the object.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._known: dict[str, Capabilities] = {}
        self._loaded = self.path is None
        self._lock = threading.Lock()

    def _load(self) -> None:
        with self._lock:
            if self._loaded:
                return
            self._loaded = True
            assert self.path is not None
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                return
            except (OSError, ValueError) as error:
                log.warning("ignoring unreadable capability file %s: %s", self.path, error)
                return
            if isinstance(data, dict):
                for key, value in data.items():
                    if isinstance(value, dict) and key not in self._known:
                        self._known[key] = Capabilities.from_json(value)

    async def get(self, base_url: str | None, model: str) -> Capabilities:
        """The one Capabilities object for this endpoint and model (made on first ask)."""
        if not self._loaded:
            await asyncio.to_thread(self._load)
        return self.get_loaded(base_url, model)

    def get_loaded(self, base_url: str | None, model: str) -> Capabilities:
        key = memory_key(base_url, model)
        with self._lock:
            found = self._known.get(key)
            if found is None:
                found = self._known[key] = Capabilities()
            return found

    def _save(self) -> None:
        if self.path is None:
            return
        with self._lock:
            data = {key: caps.to_json() for key, caps in self._known.items()}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
            tmp.replace(self.path)
        except OSError as error:  # remembering is a convenience, never a reason to fail
            log.warning("could not save capabilities to %s: %s", self.path, error)

    async def save(self) -> None:
        if self.path is not None:
            await asyncio.to_thread(self._save)
