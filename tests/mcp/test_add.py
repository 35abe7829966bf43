"""`magentic mcp add`, `mcp import` and `mcp list`, run as a person runs them: the real CLI,
a real config file in a home of its own, real MCP server processes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from magentic.config import load_config
from magentic.testing import ChatRequest, Reply, ScriptedLLMServer
from tests.mcp.helpers import TOOL_SERVER
from tests.mcp.test_agent import is_mcp_agent, orchestrate

pytestmark = pytest.mark.slow  # whole-CLI runs

README_JSON = {
    "mcpServers": {
        "calc": {"command": sys.executable, "args": [str(TOOL_SERVER)],
                 "env": {"CALC_TOKEN": "tok-in-clear-123456"}},
        "search": {"type": "streamable-http", "url": "https://mcp.example.com/mcp",
                   "headers": {"Authorization": "Bearer hdr-123456"}},
        "fromenv": {"command": "npx", "args": ["-y", "some-server"],
                    "env": {"SOME_API_KEY": "${SOME_API_KEY}"}, "autoApprove": []},
    }
}  # fmt: skip
HAND_WRITTEN = """# my own notes, kept as they are
[models.default]
model = "gpt-4o-mini"   # a comment after a value

[mcp.servers.old]
command = "old-server"

[approval.mcp]
calc = "allow"
"""


def magentic(
    home: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MAGENTIC_"))}
    full.update(XDG_CONFIG_HOME=str(home / "xdg"), **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "magentic.cli", *args],
        cwd=home,
        env=full,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=120,
    )


def config_of(home: Path) -> Path:
    # Not `home / "magentic"`: that folder in the current folder would shadow the package
    # for `python -m magentic.cli`.
    return home / "xdg" / "magentic" / "config.toml"


def test_a_server_added_with_its_command_is_listed_with_its_tools_and_used_by_a_run(
    tmp_path: Path,
) -> None:
    secret = "84736251907"
    added = magentic(
        tmp_path, "mcp", "add", "calc", "--env-from", "CALC_NUMBER", "--description",
        "a calculator", "--", sys.executable, str(TOOL_SERVER),
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "added MCP server calc (stdio:" in added.stdout
    text = config_of(tmp_path).read_text()
    assert 'env_from = ["CALC_NUMBER"]' in text and secret not in text
    assert oct(config_of(tmp_path).stat().st_mode & 0o777) == "0o600"

    listed = magentic(tmp_path, "mcp", "list")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert re.search(r"ok   mcp calc: stdio, \d+ tools: add, lookup, .*env", listed.stdout)

    seen: list[str] = []  # what the env tool returned, as the model was shown it

    def script(request: ChatRequest) -> Reply:
        if not is_mcp_agent(request):
            return orchestrate(request)
        shown = request.last_user_text()
        if "returned:" not in shown:
            return Reply.tool_call("calc__env", {"name": "CALC_NUMBER"})
        seen.append(shown)
        return Reply.text("The sum is 1")

    with ScriptedLLMServer(script) as server:  # no --config: the file `mcp add` wrote
        done = magentic(
            tmp_path, "run", "Add the numbers.", "--base-url", server.base_url, "--agents",
            "Coder", "--trace-dir", "runs", "--json", "--yes", env={"CALC_NUMBER": secret},
        )  # fmt: skip  # --yes: a read-only hint alone no longer lets a tool run unasked
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "answered"
    assert seen and secret in seen[-1]  # handed on from our environment by name
    trace = next((tmp_path / "runs").glob("*/trace.jsonl")).read_text()
    assert secret not in trace  # and redacted, as a value of the config's env is


def test_import_takes_readme_json_and_keeps_the_rest_of_the_file(tmp_path: Path) -> None:
    config_of(tmp_path).parent.mkdir(parents=True)
    config_of(tmp_path).write_text(HAND_WRITTEN)
    source = tmp_path / "servers.json"
    source.write_text(json.dumps(README_JSON))
    done = magentic(tmp_path, "mcp", "import", str(source))
    assert done.returncode == 0, done.stderr
    text = config_of(tmp_path).read_text()
    assert text.startswith(HAND_WRITTEN.rstrip("\n"))  # not a byte of it changed
    config = load_config(config_of(tmp_path), environ={})
    servers = config.mcp.servers
    assert list(servers) == ["old", "calc", "search", "fromenv"]
    assert servers["calc"].command == sys.executable
    assert servers["calc"].env == {"CALC_TOKEN": "tok-in-clear-123456"}
    assert servers["search"].transport == "http"
    assert servers["fromenv"].env_from == ["SOME_API_KEY"] and not servers["fromenv"].env
    assert config.models["default"]["model"] == "gpt-4o-mini"
    assert "warning: calc's env values (CALC_TOKEN) are stored in the config file in clear" in (
        done.stdout
    )
    assert "--env-names-only" in done.stdout and "warning: search's headers" in done.stdout

    again = magentic(tmp_path, "mcp", "import", str(source))
    assert again.returncode == 2 and "calc, search, fromenv already" in again.stderr
    assert config_of(tmp_path).read_text() == text  # refused: nothing changed

    names_only = magentic(tmp_path, "mcp", "import", str(source), "--replace", "--env-names-only")
    assert names_only.returncode == 0, names_only.stderr
    replaced = config_of(tmp_path).read_text()
    assert "tok-in-clear-123456" not in replaced and replaced.startswith(HAND_WRITTEN.rstrip())
    calc = load_config(config_of(tmp_path), environ={}).mcp.servers["calc"]
    assert calc.env_from == ["CALC_TOKEN"] and not calc.env
    assert replaced.count("[mcp.servers.calc]") == 1


def test_the_bare_object_and_single_server_forms(tmp_path: Path) -> None:
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps({"calc": {"command": sys.executable, "args": [str(TOOL_SERVER)]}}))
    path = tmp_path / "elsewhere.toml"
    done = magentic(tmp_path, "mcp", "import", str(bare), "--config", str(path))
    assert done.returncode == 0, done.stderr
    assert f"magentic mcp list --config {path}" in done.stdout
    assert not config_of(tmp_path).exists()  # --config: only that file
    assert list(load_config(path, environ={}).mcp.servers) == ["calc"]


@pytest.mark.parametrize(
    "existing, args, said",
    [
        ("", ["import", "{file}"], "uses the 'sse' transport"),
        ("", ["add", "two words", "--", "x"], "use letters, digits"),
        ("", ["add", "both", "--url", "https://a.example/mcp", "--", "x"], "not both"),
        ("", ["add", "neither"], "not both"),
        ("", ["add", "e", "--env", "NOEQUALS", "--", "x"], "KEY=VALUE"),
        ('mcp = { servers = { a = { command = "x" } } }\n', ["add", "b", "--", "y"], "inline"),
        ('[mcp]\nservers.a.command = "x"\n', ["add", "a", "--replace", "--", "y"], "by hand"),
        ("[mcp.servers.a]\ncommand = 1\n", ["add", "b", "--", "y"], "left as it was"),
    ],
    ids=["sse", "bad-name", "both", "neither", "env", "inline", "dotted", "bad-file"],
)
def test_refusals_are_one_line_and_leave_the_file_alone(
    tmp_path: Path, existing: str, args: list[str], said: str
) -> None:
    sse = tmp_path / "sse.json"
    sse.write_text(json.dumps({"mcpServers": {"s": {"type": "sse", "url": "http://h/sse"}}}))
    path = config_of(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(existing)
    done = magentic(tmp_path, "mcp", *[a.replace("{file}", str(sse)) for a in args])
    assert done.returncode == 2, done.stdout + done.stderr
    assert said in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert path.read_text() == existing


def test_replace_cuts_the_old_table_and_its_sub_tables_but_not_the_next_ones_comment(
    tmp_path: Path,
) -> None:
    path = config_of(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(
        '[mcp.servers.calc]\ncommand = "old"\n\n[mcp.servers.calc.env]\nK = "v"\n\n'
        '# about the approvals below\n[approval.mcp]\ncalc = "allow"\n'
    )
    done = magentic(tmp_path, "mcp", "add", "calc", "--replace", "--", "new", "--flag")
    assert done.returncode == 0, done.stderr
    assert "replaced MCP server calc (stdio: new --flag)" in done.stdout
    text = path.read_text()
    assert "# about the approvals below\n[approval.mcp]" in text and '"old"' not in text
    calc = load_config(path, environ={}).mcp.servers["calc"]
    assert (calc.command, calc.args, calc.env) == ("new", ["--flag"], {})


def test_env_from_hands_on_only_the_named_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    from magentic.mcp.settings import McpServerSettings
    from magentic.mcp.stdio import server_env

    monkeypatch.setenv("PASSED_ON", "value-passed-123456")
    monkeypatch.setenv("KEPT_BACK", "value-kept-123456")
    settings = McpServerSettings(command="x", env_from=["PASSED_ON", "UNSET_ONE"])
    env = server_env(settings)
    assert env["PASSED_ON"] == "value-passed-123456" and "KEPT_BACK" not in env
    assert "UNSET_ONE" not in env and "value-passed-123456" in settings.secrets()
    with pytest.raises(ValueError, match="env_from"):
        McpServerSettings(url="https://a.example/mcp", env_from=["PASSED_ON"])


def test_an_http_server_at_a_local_address_is_added_with_what_to_allow(
    tmp_path: Path, http_url: str
) -> None:
    added = magentic(tmp_path, "mcp", "add", "web", "--url", http_url)
    assert added.returncode == 0, added.stderr
    port = http_url.split(":")[2].split("/")[0]
    assert (
        f'a run would leave web out (127.0.0.1 is a private or local address); to allow it, add "127.0.0.1:{port}"'
        in added.stdout
    )
    refused = magentic(tmp_path, "mcp", "list")
    assert refused.returncode == 1 and "FAIL mcp web" in refused.stdout
    with config_of(tmp_path).open("a") as handle:  # what the note says to do
        handle.write(f'\n[mcp.url_policy]\nallow = ["127.0.0.1:{port}"]\n')
    listed = magentic(tmp_path, "mcp", "list")
    assert listed.returncode == 0, listed.stdout
    assert re.search(r"ok   mcp web: http, \d+ tools: add, ", listed.stdout)
    again = magentic(tmp_path, "mcp", "add", "web2", "--url", http_url)
    assert again.returncode == 0 and "a run would leave" not in again.stdout  # allowed now
