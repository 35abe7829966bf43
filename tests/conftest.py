"""Shared test helpers. Parts the machine lacks skip locally and fail in CI (CI=true)."""

from __future__ import annotations

import importlib.util
import os

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


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
