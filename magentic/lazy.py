"""Package names imported on first use.

A package whose parts are heavy (the openai SDK, Playwright, the Docker SDK) still exports
them by name, but loading the package must not load them: a config read needs only the
settings leaf beside them. `lazy_exports` gives such a package its module `__getattr__`.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any


def lazy_exports(exports: dict[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` that imports `name` from `exports[name]` when first asked."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(name)
        return getattr(import_module(module), name)

    return __getattr__
