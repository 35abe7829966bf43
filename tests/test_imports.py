"""Imports flow one way: cli -> team -> orchestrator -> agents -> llm / execution -> events /
errors, with settings modules as dependency-free leaves. A module that needs to reach up, or a
cycle held off by a late import, has found a missing module; these tests say where."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import magentic

PACKAGE = Path(magentic.__file__).parent

# Lower ranks are imported by higher ones, never the other way round.
LAYERS: list[tuple[int, tuple[str, ...]]] = [
    (6, ("magentic.cli", "magentic.__main__")),
    (5, ("magentic.team", "magentic.bench", "magentic.doctor", "magentic.onboard")),
    # testing's helpers read the orchestrator's prompts to tell a request's phase.
    (4, ("magentic.config", "magentic.recorded", "magentic.ui", "magentic.testing")),
    (3, ("magentic.orchestrator",)),
    (2, ("magentic.agents",)),
    (
        1,
        (
            "magentic.llm",
            "magentic.execution",
            "magentic.trace",
            "magentic.control",
            "magentic.mcp",
        ),
    ),
    (0, ("magentic.errors", "magentic.events", "magentic.text", "magentic")),
]


def is_settings(module: str) -> bool:
    """Settings modules are leaves: anyone may import them, and they import only leaves."""
    last = module.rsplit(".", 1)[-1]
    return last == "settings" or last.endswith("_settings")


def rank(module: str) -> int:
    if is_settings(module):
        return 0
    for level, prefixes in LAYERS:
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return level
    raise AssertionError(f"{module} belongs to no layer; add it to LAYERS")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_block(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def imports(path: Path) -> set[str]:
    """The magentic modules a file imports at run time, at the top or inside functions
    (TYPE_CHECKING blocks excluded)."""
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if _type_checking_block(node):
                continue
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("magentic"))
            elif (
                isinstance(node, ast.ImportFrom)
                and node.level == 0
                and (node.module or "").startswith("magentic")
            ):
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    found.add(sub if _exists(sub) else str(node.module))
            for field in ("body", "orelse", "finalbody", "handlers"):
                children = getattr(node, field, None)
                if isinstance(children, list):
                    visit([c for c in children if isinstance(c, ast.stmt)])
                    for handler in children:
                        if isinstance(handler, ast.ExceptHandler):
                            visit(handler.body)

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    return found


def _exists(module: str) -> bool:
    relative = Path(*module.split(".")[1:])
    return (PACKAGE / relative).with_suffix(".py").is_file() or (
        PACKAGE / relative / "__init__.py"
    ).is_file()


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_import_points_down_or_sideways() -> None:
    upward = []
    for name, path in all_modules().items():
        for target in imports(path):
            if rank(target) > rank(name):
                upward.append(
                    f"{name} (layer {rank(name)}) imports {target} (layer {rank(target)})"
                )
    assert not upward, "imports that reach up a layer:\n" + "\n".join(upward)


def test_there_is_no_import_cycle() -> None:
    """Imports inside functions count too: a late import that holds a cycle off is still a
    cycle, and a sign of a missing module."""
    modules = all_modules()
    graph = {name: imports(path) & set(modules) for name, path in modules.items()}
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def walk(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if target.startswith(node + "."):
                continue  # a package's __init__ importing its own submodule is not a cycle
            if state.get(target) == 1:
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                walk(target, [*path, target])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            walk(name, [name])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def _loaded_by(module: str) -> set[str]:
    """The modules one import really loads, in a fresh interpreter."""
    code = (
        f"import sys, {module}\n"
        "print('\\n'.join(m for m in sys.modules if m.startswith(('magentic', 'openai'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return set(done.stdout.split())


def test_reading_a_config_loads_no_model_sdk_and_no_agent() -> None:
    loaded = _loaded_by("magentic.config")
    assert "openai" not in loaded
    modules = all_modules()
    heavy = sorted(
        m
        for m in loaded
        if m.startswith("magentic.")
        and rank(m) in (1, 2, 3)
        and modules[m].name != "__init__.py"  # the packages around settings modules
    )
    assert heavy == [], f"magentic.config pulls in {heavy}"


def test_each_layer_loads_nothing_above_it() -> None:
    for module in (
        "magentic.llm.client",
        "magentic.execution.docker_executor",
        "magentic.agents.web_surfer.agent",
        "magentic.agents.file_surfer",
        "magentic.orchestrator.orchestrator",
    ):
        above = sorted(
            m for m in _loaded_by(module) if m.startswith("magentic") and rank(m) > rank(module)
        )
        assert above == [], f"{module} loads {above}"
