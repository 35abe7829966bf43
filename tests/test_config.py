from __future__ import annotations

from pathlib import Path

import pytest

from magentic.config import load_config
from magentic.errors import ConfigError


def test_file_then_env_then_flags(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(
        '[models.default]\nmodel = "small"\nbase_url = "http://file/v1"\n'
        '[models.orchestrator]\nmodel = "big"\n'
        "[orchestrator.budgets]\nmax_rounds = 7\n"
    )
    config = load_config(
        path, environ={"MAGENTIC_BASE_URL": "http://env/v1", "MAGENTIC_MAX_ROUNDS": "9"}
    )
    assert config.model_for("coder").model == "small"
    assert config.model_for("orchestrator").model == "big"
    assert config.model_for("orchestrator").base_url == "http://env/v1"  # inherited, env wins
    assert config.orchestrator.budgets.max_rounds == 9
    flagged = load_config(
        path,
        environ={"MAGENTIC_MAX_ROUNDS": "9"},
        overrides={"orchestrator.budgets.max_rounds": 3, "models.default.model": "flag"},
    )
    assert flagged.orchestrator.budgets.max_rounds == 3
    assert flagged.model_for("coder").model == "flag"
    assert flagged.model_for("orchestrator").model == "big"  # a role's own setting still wins


@pytest.mark.parametrize(
    "text, message",
    [
        ("[models.wizard]\nmodel = 'x'\n", "unknown model role"),
        ("[models.coder]\ntemperature = 'hot'\n", "models.coder"),
        ("[orchestrator]\nmax_replans = -1\n", "max_replans"),
        ("not toml = = =\n", "not valid TOML"),
    ],
)
def test_bad_config_names_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path, environ={})
