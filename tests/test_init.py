"""`magentic init` as a person meets it: the real CLI in a real pseudo-terminal, answering its
questions, against the scripted model endpoint (and against one that is down); then without
a terminal, from flags alone."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from magentic.config import load_config
from magentic.testing import ChatRequest, Reply, ScriptedLLMServer, roles
from magentic.testing.demo import DEMO_TASK, demo_script

from .terminal import Terminal

pytestmark = pytest.mark.slow  # whole-CLI runs


def environment(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MAGENTIC_"))}
    env.update(TERM="xterm-256color", XDG_CONFIG_HOME=str(home / "xdg"), **extra)
    return env


def written(home: Path) -> Path:
    # Not `home / "magentic"`: a `magentic/` folder in the current folder would shadow the
    # package for `python -m magentic.cli`.
    return home / "xdg" / "magentic" / "config.toml"


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator:
    opened: list[Terminal] = []

    def start(*args: str, **env: str) -> Terminal:
        argv = [sys.executable, "-m", "magentic.cli", *args]
        term = Terminal(argv, cwd=tmp_path, env=environment(tmp_path, **env))
        opened.append(term)
        return term

    yield start
    for term in opened:
        term.close()


def probe_or_demo(request: ChatRequest) -> Reply:
    """The demo team's replies, and "OK" to the doctor's probes."""
    return Reply.text("OK") if roles.phase(request) == "other" else demo_script(request)


def dead_url() -> str:
    """An address nothing listens on: a port bound, then let go."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def test_the_person_answers_and_the_config_points_at_the_endpoint(terminal, tmp_path: Path) -> None:
    with ScriptedLLMServer(probe_or_demo, models=["tiny-model", "gpt-4o"]) as server:
        term = terminal("init")
        term.expect("2. Ollama on this machine: http://127.0.0.1:11434/v1")
        term.expect("endpoint [1]> ")
        term.type("ftp://nowhere\n")  # asked again
        term.expect("neither a number from the list nor an http(s) URL")
        term.expect("endpoint [1]> ")
        term.type(server.base_url + "\n")
        term.expect("environment variable holding the API key [none]> ")
        term.type("\n")
        term.expect("2. gpt-4o")  # what the endpoint's /models offers
        term.expect("model [tiny-model]> ")
        term.type("2\n")
        term.expect("ok   plain text")
        term.expect("the endpoint answers as a run needs")
        term.expect("wrote ")
        assert term.wait() == 0, term.text[-2000:]
        config = load_config(written(tmp_path), environ={})
        settings = config.model_for("orchestrator")
        assert (settings.base_url, settings.model) == (server.base_url, "gpt-4o")
        assert settings.api_key_env == ""  # no key: none is sent to this server
        # every command reads it now: a run with no endpoint flags talks to that server
        probes = len(server.requests)
        done = subprocess.run(
            [sys.executable, "-m", "magentic.cli", "run", DEMO_TASK, "--agents", "Coder",
             "--trace-dir", "runs", "--quiet"],
            cwd=tmp_path, env=environment(tmp_path), capture_output=True, text=True,
            stdin=subprocess.DEVNULL, timeout=120,
        )  # fmt: skip
        ran = server.requests[probes:]
    assert done.returncode == 0, done.stderr
    assert "sum is unknown" in done.stdout  # the demo's answer for a team of one Coder
    assert ran and {r.body["model"] for r in ran} == {"gpt-4o"}


def test_a_dead_endpoint_is_reported_and_nothing_written_unless_confirmed(
    terminal, tmp_path: Path
) -> None:
    url = dead_url()
    for answer, code in (("\n", 1), ("y\n", 0)):
        term = terminal("init", "--base-url", url)
        term.expect("environment variable holding the API key [none]> ")
        term.type("MY_LOCAL_KEY\n")
        term.expect("model> ")  # the endpoint offers no list: the name is asked plainly
        term.type("qwen2.5:7b\n")
        term.expect("FAIL plain text")
        term.expect("cannot reach the model endpoint")
        term.expect("write the config anyway? [y/N]> ")
        term.type(answer)
        assert term.wait() == code, term.text[-2000:]
        if code == 1:
            assert "nothing written" in term.text and not written(tmp_path).exists()
    config = load_config(written(tmp_path), environ={})
    assert config.model_for("default").model == "qwen2.5:7b"
    assert config.model_for("default").api_key_env == "MY_LOCAL_KEY"


def init(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "magentic.cli", "init", *args],
        cwd=home, env=environment(home, **env), capture_output=True, text=True,
        stdin=subprocess.DEVNULL, timeout=120,
    )  # fmt: skip


def test_flags_alone_write_it_and_the_key_stays_in_its_variable(tmp_path: Path) -> None:
    key = "sk-init-test-0123456789abcdef"
    with ScriptedLLMServer(lambda request: Reply.text("OK"), api_key=key) as server:
        flags = ["--base-url", server.base_url, "--model", "m", "--api-key-env", "MY_KEY"]
        done = init(tmp_path, *flags, MY_KEY=key)  # the check sends the variable's value
        assert done.returncode == 0, done.stdout + done.stderr
        text = written(tmp_path).read_text()
        assert 'api_key_env = "MY_KEY"' in text and key not in text
        assert key not in done.stdout + done.stderr

        again = init(tmp_path, *flags, MY_KEY=key)
        assert again.returncode == 2 and "exists already" in again.stderr
        assert again.stderr.count("\n") == 1 and written(tmp_path).read_text() == text

        with written(tmp_path).open("a") as handle:  # what `mcp add` would append
            handle.write('\n[mcp.servers.calc]\ncommand = "calc-server"\n')
        text = written(tmp_path).read_text()
        moved = init(tmp_path, "--base-url", server.base_url + "/", "--model", "n", "--force",
                     "--api-key-env", "MY_KEY", MY_KEY=key)  # fmt: skip
        assert moved.returncode == 0, moved.stdout
        config = load_config(written(tmp_path), environ={})
        assert config.model_for("default").model == "n"
        assert list(config.mcp.servers) == ["calc"]  # only [models.default] was replaced
        assert (tmp_path / "xdg" / "magentic" / "config.toml.bak").read_text() == text

        wrong_key = init(tmp_path, *flags, "--force", MY_KEY="sk-wrong-key-000000000")
        assert wrong_key.returncode == 1 and "FAIL" in wrong_key.stdout
        assert load_config(written(tmp_path), environ={}).model_for("default").model == "n"


def test_without_a_terminal_a_dead_endpoint_writes_nothing_but_no_check_does(
    tmp_path: Path,
) -> None:
    path = tmp_path / "elsewhere.toml"
    flags = ["--base-url", dead_url(), "--model", "m", "--api-key-env", "", "--path", str(path)]
    done = init(tmp_path, *flags)
    assert done.returncode == 1 and "--no-check" in done.stdout and not path.exists()
    forced = init(tmp_path, *flags, "--no-check")
    assert forced.returncode == 0 and f"--config {path}" in forced.stdout
    assert load_config(path, environ={}).model_for("default").model == "m"


@pytest.mark.parametrize(
    "args, said",
    [
        (["--base-url", "ftp://x"], "is not an http(s) URL"),
        (["--base-url", "http://127.0.0.1:1/v1"], "give the model's name with --model"),
        (["--api-key-env", "NOT A NAME", "--model", "m"], "not an environment variable's name"),
    ],
    ids=["url", "no-model", "key-name"],
)
def test_bad_flags_are_one_line_and_exit_2(tmp_path: Path, args: list[str], said: str) -> None:
    done = init(tmp_path, *args)
    assert done.returncode == 2 and said in done.stderr and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr and not written(tmp_path).exists()
