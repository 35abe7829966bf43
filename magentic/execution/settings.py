"""How a sandbox is sized and shaped: one pydantic model, read from the config file.

The defaults suit a data-analysis task on a small machine: enough memory for pandas on a
few hundred megabytes of data, enough processes for a thread pool, no network (a task that
needs the web has the WebSurfer), and output cut to what a model can usefully read.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_IMAGE = "magentic-sandbox:latest"

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(value: str | int) -> int:
    """Bytes from "512m", "2g", "1.5GiB" or a plain number of bytes (Docker's spelling)."""
    if isinstance(value, int):
        return value
    match = _SIZE.match(value)
    if not match:
        raise ValueError(f"not a size: {value!r} (use e.g. 512m or 2g)")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


class SandboxSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image: str = DEFAULT_IMAGE  # the Docker image code runs in (built locally)
    timeout: float = Field(default=120.0, gt=0, description="wall-clock seconds per run()")
    memory: str = Field(default="2g", description="RAM for the code (Docker --memory)")
    cpus: float = Field(default=1.0, gt=0, description="CPU share (Docker only)")
    pids: int = Field(default=256, ge=16, description="processes and threads at once")
    network: bool = Field(default=False, description="let the code reach the network")
    output_limit: int = Field(
        default=20_000, ge=200, description="characters kept of stdout and of stderr each"
    )
    tmp_size: str = Field(default="512m", description="size of the writable /tmp")
    python: str | None = Field(
        default=None, description="interpreter for bwrap/local (default: the host's python3)"
    )
    workspace_quota: str = Field(
        default="1g",
        description="room for new files in the workspace (0: no quota); a write past it "
        "fails with 'No space left on device' inside the sandbox",
    )
    trusted_sources: list[str] = Field(
        default_factory=lambda: ["Coder"],
        description="whose messages the ComputerTerminal may run code from",
    )

    @field_validator("memory", "tmp_size", "workspace_quota")
    @classmethod
    def _check_size(cls, value: str) -> str:
        parse_size(value)
        return value

    @property
    def quota_bytes(self) -> int:
        return parse_size(self.workspace_quota)

    @property
    def memory_bytes(self) -> int:
        return parse_size(self.memory)

    @property
    def tmp_bytes(self) -> int:
        return parse_size(self.tmp_size)
