"""The docs build, strictly, and their reference pages cover every setting, variable and flag.

The reference pages are generated from the code when the docs are built
(`scripts/docs_reference.py`); these tests make a gap in them a failure, not a surprise.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

from pydantic import BaseModel

from magentic.cli import ENVIRONMENT, build_parser
from magentic.config import ENV_KEYS, ROLES, Config

from .conftest import require

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("docs_reference", ROOT / "scripts/docs_reference.py")
assert _spec and _spec.loader
reference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reference)


def leaf_keys(model: type[BaseModel]) -> set[str]:
    keys = set()
    for name, info in model.model_fields.items():
        if info.exclude:
            continue
        nested = reference.nested_model(info.annotation)
        if nested is None:
            keys.add(name)
        else:
            keys |= leaf_keys(nested[1])
    return keys


def test_the_config_page_lists_every_key_of_every_table() -> None:
    page = reference.config_page()
    listed = set(re.findall(r"^\| `([a-z_0-9]+)` \|", page, re.M))
    from magentic.llm.settings import ModelSettings

    assert leaf_keys(Config) - {"models"} - listed == set()
    assert leaf_keys(ModelSettings) - listed == set()


# Set by magentic itself in processes it starts; not for a person to set.
INTERNAL_VARIABLES = {"MAGENTIC_MCP_SERVER"}


def test_every_key_of_the_config_page_says_what_it_does() -> None:
    """A setting with no words in the reference is a setting a person must guess at: give it
    a comment above or beside it in its settings model (or a Field description)."""
    blank = [line for line in reference.config_page().splitlines() if line.endswith("|  |")]
    assert blank == []


def test_every_environment_variable_the_code_reads_is_documented() -> None:
    page = reference.config_page()
    named = set()
    for path in (ROOT / "magentic").rglob("*.py"):
        named |= set(re.findall(r"\bMAGENTIC_[A-Z_]+[A-Z]\b", path.read_text()))
    assert named, "the scan found no variable at all"
    assert {n for n in named - INTERNAL_VARIABLES if f"`{n}`" not in page} == set()
    assert {*ENV_KEYS, "OPENAI_API_KEY"} <= set(ENVIRONMENT)  # every config variable said
    shown = build_parser().format_help()
    assert [name for name in ENVIRONMENT if name not in shown] == []  # and in --help


def test_the_command_page_lists_every_command_and_flag() -> None:
    page = reference.cli_page()

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        assert f"## `{path}`" in page or path == "magentic"
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{path} {name}")
            elif action.option_strings and not isinstance(action, argparse._HelpAction):
                assert f"`{action.option_strings[-1]}`" in page, (path, action.option_strings)

    walk(build_parser(), "magentic")


def test_the_docs_build_strictly(tmp_path: Path) -> None:
    require(importlib.util.find_spec("mkdocs") is not None, "mkdocs (the dev extras)")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    built = (tmp_path / "reference/config/index.html").read_text()
    assert "orchestrator.budgets" in built and "max_rounds" in built
    assert "magentic resume" in (tmp_path / "reference/cli/index.html").read_text()


def test_the_config_page_names_every_model_role() -> None:
    roles = re.search(r"Roles: (.*?)\.\n", reference.config_page())
    assert roles is not None
    assert [role for role in ROLES if f"`{role}`" not in roles.group(1)] == []
