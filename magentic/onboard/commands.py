"""The parsers and handlers of `magentic init`, `magentic mcp ...` and `magentic trace
export`, kept apart from cli.py, which only registers them and dispatches."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from magentic.errors import ConfigError

EXIT_OK, EXIT_FAILED = 0, 1


def register(commands: Any) -> None:
    """Add `init` and `mcp` to the CLI's subcommands."""
    init = commands.add_parser(
        "init",
        help="first-run set-up: choose the model endpoint, check it, write the config",
        description="Asks (at a terminal) for the endpoint, the model and the environment "
        "variable that holds the API key, checks them as `doctor --model` does, and writes "
        "the config file every command reads. The key itself is never written.",
    )
    init.add_argument("--base-url", help="the endpoint (default: OpenAI's)")
    init.add_argument("--model", help="the model's name, as the endpoint knows it")
    init.add_argument(
        "--api-key-env", help="environment variable holding the API key ('' for none)"
    )
    init.add_argument(
        "--path", type=Path, help="where to write (default: ~/.config/magentic/config.toml)"
    )
    init.add_argument("--force", action="store_true", help="overwrite an existing config")
    init.add_argument(
        "--no-check", action="store_true", help="write without asking the endpoint first"
    )

    mcp = commands.add_parser("mcp", help="add MCP servers to the config, and list their tools")
    actions = mcp.add_subparsers(dest="mcp_command", metavar="ACTION", required=True)
    add = actions.add_parser(
        "add",
        help="add a server: mcp add NAME -- COMMAND ARGS... (or --url URL)",
        usage="magentic mcp add NAME [options] -- COMMAND ARGS...  |  --url URL",
        description="Append a [mcp.servers.NAME] table to the config file. A stdio server "
        "is the command after `--`; a streamable HTTP server is --url.",
    )
    add.add_argument("name", help="the server's name (letters, digits, _ and -)")
    add.add_argument("--url", help="a streamable HTTP server's address")
    add.add_argument(
        "--env", action="append", default=[], metavar="KEY=VALUE", help="set for the server"
    )
    add.add_argument(
        "--env-from",
        action="append",
        default=[],
        metavar="KEY",
        help="hand this variable on from magentic's environment (its value is not written)",
    )
    add.add_argument("--description", help="what the server is for, in a few words")
    imported = actions.add_parser(
        "import",
        help="add the servers of an mcpServers JSON file (as MCP READMEs give them)",
    )
    imported.add_argument("file", type=Path, help="a JSON file ('-' for standard input)")
    imported.add_argument(
        "--env-names-only",
        action="store_true",
        help="store only the env variables' names; their values come from your environment",
    )
    listed = actions.add_parser("list", help="start each configured server and list its tools")
    for parser in (add, imported, listed):
        parser.add_argument("--config", type=Path, help="the config file (default: your own)")
    for parser in (add, imported):
        parser.add_argument("--replace", action="store_true", help="overwrite same-named servers")


def split_server_command(argv: list[str]) -> tuple[list[str], list[str] | None]:
    """`mcp add NAME [options] -- COMMAND ARGS...`: the words after `--` are the server's
    command, kept whole (argparse would read its flags as ours). Other command lines pass."""
    words = [w for w in argv if not w.startswith("-")]
    if words[:2] != ["mcp", "add"] or "--" not in argv:
        return argv, None
    cut = argv.index("--")
    return argv[:cut], argv[cut + 1 :]


def register_trace_export(trace_commands: Any) -> None:
    export = trace_commands.add_parser(
        "export", help="write a run as an ATIF trajectory (Harbor's interchange format)"
    )
    export.add_argument("path", type=Path, help="a run folder")
    export.add_argument("--format", choices=["atif"], default="atif", help="the format")
    export.add_argument("--out", type=Path, help="the file (default: RUN_DIR/trajectory.atif.json)")


def handlers() -> dict[str, Any]:
    return {"init": init_command, "mcp": mcp_command}


def init_command(args: argparse.Namespace) -> int:
    from magentic.onboard.init import InitOptions, init_main, is_interactive

    options = InitOptions(
        base_url=args.base_url,
        model=args.model,
        api_key_env=args.api_key_env,
        path=args.path,
        force=args.force,
        check=not args.no_check,
        interactive=is_interactive(),
    )
    return init_main(options)


def _config_path(given: Path | None) -> Path:
    from magentic.config import CONFIG_ENV, default_config_path

    path = given or default_config_path()
    if path is None:
        raise ConfigError(f"no home folder for the config: give --config FILE or set {CONFIG_ENV}")
    return path


def mcp_command(args: argparse.Namespace) -> int:
    from magentic.onboard import mcp_add

    path = _config_path(args.config)
    if args.mcp_command == "list":
        return _mcp_list(path)
    if args.mcp_command == "add":
        argv = getattr(args, "server_command", None) or []
        entries = [
            mcp_add.entry_from_flags(
                args.name, argv, args.url, args.env, args.env_from, args.description
            )
        ]
    else:
        if str(args.file) == "-":
            text, shown = sys.stdin.read(), "standard input"
        else:
            try:
                text, shown = args.file.read_text(encoding="utf-8"), str(args.file)
            except (OSError, UnicodeDecodeError) as error:
                raise ConfigError(f"cannot read {args.file}: {error}") from None
        entries = mcp_add.entries_from_json(text, shown, names_only=args.env_names_only)
    mcp_add.write_servers(path, entries, replace=args.replace)
    hint = "" if args.config is None else f" --config {path}"
    print(f"check them with: magentic mcp list{hint}")
    return EXIT_OK


def _mcp_list(path: Path) -> int:
    from magentic.config import load_config
    from magentic.doctor import check_mcp_servers

    if not path.is_file():
        raise ConfigError(f"no config at {path}: add a server first (magentic mcp add)")
    config = load_config(path)
    if not config.mcp.servers:
        print(f"no MCP servers in {path}")
        return EXIT_OK
    checks = asyncio.run(check_mcp_servers(config.mcp))
    for check in checks:
        print(f"{'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}")
        if not check.ok and check.fix:
            print(f"     fix: {check.fix}")
    return EXIT_OK if all(c.ok for c in checks) else EXIT_FAILED


def trace_export(args: argparse.Namespace) -> int:
    from magentic.trace.atif import export_run

    run_dir = args.path if args.path.is_dir() else args.path.parent
    if not (run_dir / "trace.jsonl").is_file():
        raise ConfigError(f"no trace at {args.path} (a run folder holds trace.jsonl)")
    try:
        print(export_run(run_dir, args.out))
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot export {run_dir}: {error}") from None
    return EXIT_OK
