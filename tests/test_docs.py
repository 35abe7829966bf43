"""The README and `magentic --help` say every flag, environment variable and role there is.

Read from the parser and the config's own tables, so a new flag or variable that nobody
documents fails here rather than surprising a newcomer.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from magentic.cli import ENVIRONMENT, build_parser
from magentic.config import ENV_KEYS, ROLES

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(commands.choices)


def test_every_flag_of_every_command_is_in_the_readme() -> None:
    missing = {
        f"{name} {option}"
        for name, sub in _subcommands().items()
        for action in sub._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help" and option not in README
    }
    assert not missing, sorted(missing)


def test_every_environment_variable_is_in_the_help_and_the_readme() -> None:
    names = {*ENV_KEYS, "OPENAI_API_KEY", "MAGENTIC_DEBUG"}
    assert names <= set(ENVIRONMENT)
    shown = build_parser().format_help()
    assert [n for n in ENVIRONMENT if n not in shown] == []
    assert [n for n in ENVIRONMENT if n not in README] == []


def test_the_readme_names_every_model_role() -> None:
    listed = re.search(r"Roles: (.*?)\.\n", README, re.DOTALL)
    assert listed is not None
    assert [role for role in ROLES if f"`{role}`" not in listed.group(1)] == []
