"""Secrets never leave through spans, the trace, the console or `--json`, even bare.

The attacker's view: a real `magentic run` process whose task (and the model's replies) carry
the config's key, a collector token without its `Bearer ` prefix, an environment token, an AWS
secret and a GitHub-shaped key, exporting with `capture_content = true` to a real OTLP/HTTP
receiver started here. Every span's name and attribute, the trace file, stderr and stdout are
searched for each secret.
"""

# ruff: noqa: E402 (the imports below the require() need the part it checks for)
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import installed, require

require(installed("opentelemetry.sdk"), "the otel extra (pip install 'magentic[otel]')")

from magentic.secrets import REDACTED, Redactor
from magentic.testing import ChatRequest, Reply, ScriptedLLMServer, roles

from .otlp import Received, serve

ROOT = Path(__file__).resolve().parents[2]
CONFIG_KEY = "cfgkey-5d1e9b7a3c20"  # written in the config file
BARE_COLLECTOR = "otelbare-4f9a1c2e7b6d"  # the config sends it as "Bearer ..."
ENV_TOKEN = "deploytok-81c3e0f9aa"  # DEPLOY_TOKEN in the environment
AWS_SECRET = "wJalrXUtnFEMIK7MDENGbPxRfiCYzz19"  # AWS_SECRET_ACCESS_KEY
GITHUB_SHAPED = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"  # known to nobody: a shape
SECRETS = (CONFIG_KEY, BARE_COLLECTOR, ENV_TOKEN, AWS_SECRET, GITHUB_SHAPED)
LEAKY = "; ".join(SECRETS)


@pytest.fixture
def receiver() -> Iterator[Received]:
    yield from serve()


def leaky_script(request: ChatRequest) -> Reply:
    """A model that repeats every secret it was given, in each reply."""
    step = roles.phase(request)
    if step == "facts":
        return roles.facts(given_or_verified=[f"the values are {LEAKY}"])
    if step == "plan":
        return roles.plan(("Coder", f"print {LEAKY}"))
    if step == "progress":
        return roles.progress(satisfied=True, reason=f"they are {LEAKY}")
    return Reply.text(f"Here they are.\nFINAL ANSWER: {LEAKY}")


def test_no_secret_reaches_a_span_the_trace_the_console_or_json(
    tmp_path: Path, receiver: Received
) -> None:
    config = tmp_path / "magentic.toml"
    runs = tmp_path / "runs"
    config.write_text(
        f'[models.default]\napi_key = "{CONFIG_KEY}"\n\n'
        "[telemetry]\n"
        f'endpoint = "{receiver.url}"\n'
        f'headers = {{ "authorization" = "Bearer {BARE_COLLECTOR}" }}\n'
        "capture_content = true\n"
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("OTEL_") and not k.endswith(("_API_KEY", "_TOKEN"))
    }
    env |= {
        "PYTHONPATH": str(ROOT),
        "DEPLOY_TOKEN": ENV_TOKEN,
        "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
    }
    with ScriptedLLMServer(leaky_script) as server:
        done = subprocess.run(
            [sys.executable, "-m", "magentic.cli", "run", f"Repeat these: {LEAKY}",
             "--config", str(config), "--base-url", server.base_url, "--model", "scripted",
             "--agents", "Coder", "--trace-dir", str(runs), "--json"],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    spans = receiver.spans()
    root = [s for s in spans if not s.parent_span_id]
    assert len(root) == 1
    task = {kv.key: kv.value.string_value for kv in root[0].attributes}["magentic.task"]
    assert task.startswith("Repeat these: ") and REDACTED in task  # content was captured
    exported = "\n".join(str(request) for request in receiver.requests)
    [trace] = runs.glob("*/trace.jsonl")
    answer = json.loads(done.stdout)
    assert REDACTED in answer["answer"]
    for secret in SECRETS:
        assert secret not in exported, secret
        assert secret not in trace.read_text(), secret
        assert secret not in done.stdout and secret not in done.stderr, secret


def test_a_known_value_is_caught_bare_and_in_a_header() -> None:
    redact = Redactor(["Bearer tok-0a1b2c3d4e5f", "Basic dXNlcjpwYXNzd29yZA=="])
    redact.add_environment({"SERVICE_PASSWORD": "hunter2-hunter2", "SHORT_TOKEN": "yes"})
    for text, gone in [
        ("the token is tok-0a1b2c3d4e5f, bare", "tok-0a1b2c3d4e5f"),
        ("Authorization: Bearer tok-0a1b2c3d4e5f", "tok-0a1b2c3d4e5f"),
        ("basic auth dXNlcjpwYXNzd29yZA== sent", "dXNlcjpwYXNzd29yZA=="),
        ("login with hunter2-hunter2", "hunter2-hunter2"),
        ("xoxb-123456789012-abcdefABCDEF in a log", "xoxb-123456789012-abcdefABCDEF"),
        ("AKIAIOSFODNN7EXAMPLE key id", "AKIAIOSFODNN7EXAMPLE"),
        ("github_pat_11ABCDEFG0123456789_abcdefghijklmnop", "github_pat_11ABCDEFG"),
        ("hf_abcdefghijklmnopqrstuvwxyzABCD model", "hf_abcdefghijklmnopqrstuvwxyzABCD"),
        ("Authorization: Bearer an-unknown-token-77aa", "an-unknown-token-77aa"),
    ]:
        cleaned = redact(text)
        assert gone not in cleaned and REDACTED in cleaned, (text, cleaned)
    assert (
        redact("yes, short words stay; Bearer of news") == "yes, short words stay; Bearer of news"
    )
