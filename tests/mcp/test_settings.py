"""The `[mcp]` table: one transport per server, plain names, secrets kept out of summaries."""

from __future__ import annotations

from pathlib import Path

import pytest

from magentic.config import Config, load_config
from magentic.errors import ConfigError


def load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "magentic.toml"
    path.write_text(text)
    return load_config(path, environ={})


@pytest.mark.parametrize(
    ("table", "said"),
    [
        ('[mcp.servers.x]\ncommand = "a"\nurl = "http://h/mcp"', "either `command`"),
        ("[mcp.servers.x]\ntimeout_s = 5", "either `command`"),
        ('[mcp.servers.x]\nurl = "http://h/mcp"\nargs = ["-v"]', "are for stdio servers"),
        ('[mcp.servers.x]\ncommand = "a"\nheaders = { A = "b" }', "are for HTTP servers"),
        ('[mcp.servers."a.b"]\ncommand = "a"', "use letters, digits"),
        ('[mcp.servers.x]\ncommand = "a"\ntimeout_s = 0', "timeout_s"),
    ],
)
def test_bad_tables_are_refused_with_the_reason(tmp_path: Path, table: str, said: str) -> None:
    with pytest.raises(ConfigError, match=said):
        load(tmp_path, table)


def test_servers_go_to_their_agents_and_secrets_stay_out_of_the_summary(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
[mcp.servers.calc]
command = "calc"
env = { CALC_KEY = "calc-key-value-1234" }

[mcp.servers.search]
url = "https://mcp.example.com/mcp"
headers = { Authorization = "Bearer header-secret-5678" }
agents = ["Search"]
""",
    )
    assert config.mcp.agent_names() == ["MCP", "Search"]
    assert list(config.mcp.servers_for("Search")) == ["search"]
    summary = str(config.summary())
    assert "CALC_KEY" in summary and "Authorization" in summary
    assert "calc-key-value-1234" not in summary and "header-secret-5678" not in summary
