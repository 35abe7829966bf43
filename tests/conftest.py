"""Shared test helpers. Parts the machine lacks skip locally and fail in CI (CI=true)."""

from __future__ import annotations

import importlib.util
import os
import tempfile

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Every command reads the person's own config (~/.config/magentic/config.toml, see
# `magentic init`) when no --config is given; the tests, and the CLI processes they start,
# must not read the config of whoever runs them.
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="magentic-tests-config-")
os.environ.pop("MAGENTIC_CONFIG", None)


def require(condition: bool, missing: str) -> None:
    """Skip (locally) or fail (in CI) when a part the test needs is missing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI must have every part, but this one is missing: {missing}")
    pytest.skip(f"needs {missing}", allow_module_level=True)  # also at a module's top


def installed(module: str) -> bool:
    """Whether `module` (dotted, e.g. "opentelemetry.sdk") can be imported, for `require`."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # its parent package is missing
        return False
