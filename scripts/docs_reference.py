"""The docs' reference pages, generated from the code at build time so they cannot drift.

MkDocs loads this file as a hook (`mkdocs.yml: hooks`): `on_files` adds two pages that are
never written to the repo:

- `reference/config.md`: every table and key of the config file, from the pydantic settings
  models. A key's words come from its `Field(description=...)`, else from the comment above
  it or beside it in the source: the comments the code's readers see are the docs.
- `reference/cli.md`: every command and flag, from `magentic.cli.build_parser()`.

`python scripts/docs_reference.py config|cli` prints a page, for a look without MkDocs.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import io
import sys
import textwrap
import tokenize
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# Comments ---------------------------------------------------------------------------------
def field_comments(cls: type) -> dict[str, str]:
    """Each annotated field of `cls`'s own body, with the comment block just above it and
    the comment at the end of its line, joined."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    comments: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
    lines = source.splitlines()
    body = ast.parse(source).body[0]
    assert isinstance(body, ast.ClassDef)
    found: dict[str, str] = {}
    for node in body.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        above: list[str] = []
        line = node.lineno - 1
        while line >= 1 and line in comments and lines[line - 1].strip().startswith("#"):
            above.insert(0, comments[line])
            line -= 1
        beside = comments.get(node.end_lineno or node.lineno, "")
        if beside and lines[(node.end_lineno or node.lineno) - 1].strip().startswith("#"):
            beside = ""
        words = " ".join(part for part in (*above, beside) if part)
        if words:
            found[node.target.id] = words
    return found


def describe(cls: type[BaseModel], name: str, info: FieldInfo) -> str:
    if info.description:
        return info.description
    for klass in cls.__mro__:
        if name in getattr(klass, "__annotations__", {}):
            said = field_comments(klass).get(name)
            if said:
                return said
    return ""


# Types and defaults -------------------------------------------------------------------------
def type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f'`"{a}"`' if isinstance(a, str) else f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(type_name(a) for a in args)
    if origin in (list, tuple, set):
        return f"list of {type_name(args[0])}" if args else "list"
    if origin is dict:
        return f"table of {type_name(args[1])}" if len(args) == 2 else "table"
    if annotation is type(None):
        return "none"
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return "table"
        return {
            "str": "string",
            "int": "integer",
            "float": "number",
            "bool": "boolean",
            "Path": "path",
        }.get(annotation.__name__, annotation.__name__)
    return str(annotation).replace("typing.", "")


def default_text(info: FieldInfo) -> str:
    if info.default_factory is not None:
        try:
            value = info.default_factory()  # type: ignore[call-arg]
        except TypeError:
            return ""
    elif info.default is PydanticUndefined:
        return "required"
    else:
        value = info.default
    if isinstance(value, BaseModel):
        return ""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, Path):
        return f'`"{value}"`'
    if isinstance(value, dict) and value and all(isinstance(v, BaseModel) for v in value.values()):
        return "see below"
    return f"`{value!r}`".replace("'", '"')


def nested_model(annotation: Any) -> tuple[str, type[BaseModel]] | None:
    """("", M) for a table, ("NAME", M) for a table of tables, None for a plain value."""
    candidates = [annotation]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        candidates = [a for a in typing.get_args(annotation) if a is not type(None)]
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return "", candidate
        if typing.get_origin(candidate) is dict:
            value = typing.get_args(candidate)[1]
            if isinstance(value, type) and issubclass(value, BaseModel):
                return "NAME", value
    return None


# The config page ------------------------------------------------------------------------------
def table_section(path: str, model: type[BaseModel], out: list[str], seen: set[str]) -> None:
    rows: list[str] = []
    later: list[tuple[str, type[BaseModel]]] = []
    for name, info in model.model_fields.items():
        if info.exclude:
            continue
        nested = nested_model(info.annotation)
        if nested is not None:
            key, sub = nested
            later.append((f"{path}.{name}" + (f".{key}" if key else ""), sub))
            if not key:
                continue
        words = describe(model, name, info).replace("|", "\\|")
        rows.append(f"| `{name}` | {type_name(info.annotation)} | {default_text(info)} | {words} |")
    out.append(f"## `[{path}]`\n")
    doc = inspect.getdoc(model)
    if doc and model.__module__.startswith("magentic") and not doc.startswith("!!"):
        out.append(doc.split("\n\n")[0].replace("\n", " ") + "\n")
    if rows:
        out.append("| key | type | default | what it does |\n|---|---|---|---|")
        out.extend(rows)
        out.append("")
    seen.add(path)
    for sub_path, sub in later:
        table_section(sub_path, sub, out, seen)


def config_page() -> str:
    from magentic.cli import ENVIRONMENT
    from magentic.config import ENV_KEYS, ROLES, Config
    from magentic.llm.settings import ModelSettings

    out = [
        "# Configuration reference\n",
        "Generated from the settings models when the docs are built; the words are the "
        "code's own comments. A config file is TOML (`--config FILE`); environment variables "
        "and flags override it (see [the command reference](cli.md)).\n",
    ]
    seen: set[str] = set()
    top = ["## Top level\n", "| key | type | default | what it does |\n|---|---|---|---|"]
    for name, info in Config.model_fields.items():
        if name == "models":
            out.append("## `[models.ROLE]`\n")
            out.append(
                "Model settings per role; each role inherits `[models.default]`. Roles: "
                + ", ".join(f"`{r}`" for r in ("default", *ROLES))
                + ".\n"
            )
            out.append("| key | type | default | what it does |\n|---|---|---|---|")
            for key, field in ModelSettings.model_fields.items():
                if field.exclude:
                    continue
                words = describe(ModelSettings, key, field).replace("|", "\\|")
                out.append(
                    f"| `{key}` | {type_name(field.annotation)} | {default_text(field)} | {words} |"
                )
            out.append("")
            continue
        nested = nested_model(info.annotation)
        if nested is None:
            words = describe(Config, name, info).replace("|", "\\|")
            top.append(
                f"| `{name}` | {type_name(info.annotation)} | {default_text(info)} | {words} |"
            )
            continue
        key, model = nested
        table_section(name + (f".{key}" if key else ""), model, out, seen)
    out.extend([*top, ""])
    out.append("## Environment variables\n")
    out.append(
        "A variable with a config key overrides the config file's value; a flag overrides "
        "both (`magentic --help` lists them too).\n"
    )
    out.append("| variable | config key | what it does |\n|---|---|---|")
    for name, words in ENVIRONMENT.items():
        dotted = f"`{ENV_KEYS[name]}`" if name in ENV_KEYS else ""
        said = words.replace("|", "\\|")
        out.append(f"| `{name}` | {dotted} | {said} |")
    out.append("")
    return "\n".join(out)


# The command page ---------------------------------------------------------------------------
def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser, str]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                found.append((name, sub, helps.get(name) or ""))
    return found


def _flags(parser: argparse.ArgumentParser) -> list[str]:
    rows = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        if action.help == argparse.SUPPRESS:
            continue
        names = ", ".join(f"`{s}`" for s in action.option_strings) or f"`{action.dest}`"
        if action.metavar and action.option_strings:
            names += f" `{action.metavar}`"
        words = (action.help or "").replace("|", "\\|").replace("%%", "%")
        if "%(default)" in words:
            words = words.replace("%(default)s", str(action.default))
        rows.append(f"| {names} | {words} |")
    return rows


def _command(path: str, parser: argparse.ArgumentParser, summary: str, out: list[str]) -> None:
    out.append(f"## `{path}`\n")
    if summary:
        out.append(summary[0].upper() + summary[1:] + ".\n")
    usage = parser.format_usage().replace("usage: ", "").strip()
    out.append(f"```\n{usage}\n```\n")
    rows = _flags(parser)
    if rows:
        out.append("| argument | what it does |\n|---|---|")
        out.extend(rows)
        out.append("")
    for name, sub, words in _subcommands(parser):
        _command(f"{path} {name}", sub, words, out)


def cli_page() -> str:
    from magentic.cli import build_parser

    parser = build_parser()
    out = [
        "# Command reference\n",
        "Generated from the command's own parser when the docs are built. Exit codes: `0` "
        "answered (or done), `1` failed or out of budget, `2` bad usage or configuration, "
        "`130` Ctrl-C, `143` SIGTERM.\n",
    ]
    rows = _flags(parser)
    out.append("| global flag | what it does |\n|---|---|")
    out.extend(rows)
    out.append("")
    for name, sub, words in _subcommands(parser):
        _command(f"magentic {name}", sub, words, out)
    return "\n".join(out)


PAGES = {"reference/config.md": config_page, "reference/cli.md": cli_page}


# The MkDocs hook ------------------------------------------------------------------------------
def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    for path, make in PAGES.items():
        files.append(File.generated(config, path, content=make()))
    return files


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "config"
    print({"config": config_page, "cli": cli_page}[which]())
