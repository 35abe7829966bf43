"""Suite adapters: one module per benchmark format, each saying whether it recognises a path,
how to read it into a `Suite`, and how to give an answer credit against a truth.

A further benchmark is one module with an `ADAPTER` added to `ADAPTERS`; the runner, the
statistics and the reports work on `Suite` and credits alone and need no change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from magentic.bench.suite import Suite
from magentic.errors import ConfigError


@dataclass(frozen=True)
class SuiteAdapter:
    """A benchmark format. `credit` is in [0, 1] (1: right), None when there is no truth."""

    kind: str
    recognises: Callable[[Path], bool]
    load: Callable[[Path], Suite]
    credit: Callable[[str, str | None], float | None]
    judged: bool = False  # no string rule: a judge model (--judge-model) gives the credit


def adapters() -> tuple[SuiteAdapter, ...]:
    """Every known format, most specific first (GAIA is the fallback)."""
    from magentic.bench.suites import assistantbench, gaia, webvoyager

    return (assistantbench.ADAPTER, webvoyager.ADAPTER, gaia.ADAPTER)


def adapter(kind: str) -> SuiteAdapter:
    for known in adapters():
        if known.kind == kind:
            return known
    raise ConfigError(f"unknown suite kind {kind!r}")


def load_suite(path: str | Path) -> Suite:
    """Read a suite (a folder, or its data file) with the first adapter that recognises it.

    Every check (attachments inside the folder, unique ids, valid levels) runs here, before
    anything is solved, so bad input costs one line and no model call.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise ConfigError(f"{path} is not a suite: it does not exist")
    for known in adapters():
        if known.recognises(path):
            return known.load(path)
    raise ConfigError(f"{path} is not a suite: no metadata.jsonl or metadata.parquet in it")


def credit(kind: str, answer: str, truth: str | None) -> float | None:
    return adapter(kind).credit(answer, truth)
