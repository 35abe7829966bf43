"""Token and cost budgets hold before each model call, and the run's end says one total.

The real CLI against the scripted model (which, like a real server, stops a reply at the
request's `max_tokens`): the run stops before a call that would go past the budget, and the
summary line and the JSON agree on what was used.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from magentic.testing import ScriptedLLMServer
from magentic.testing.demo import DEMO_TASK, demo_script
from tests.test_newcomer_paths import magentic


def _run(tmp_path: Path, *budget: str) -> tuple[dict, str, list]:
    with ScriptedLLMServer(demo_script) as server:
        done = magentic(
            "run", DEMO_TASK, "--base-url", server.base_url, "--model", "gpt-4o",
            "--agents", "Coder", "--json", *budget,
            cwd=tmp_path,
        )  # fmt: skip
        asked = [r.body.get("max_tokens") for r in server.requests]
    assert done.returncode == 1, done.stderr
    out = json.loads(done.stdout)
    assert out["status"] == "out_of_budget", out
    return out, done.stderr, asked


def test_a_token_budget_is_never_overshot_and_the_summary_says_one_total(
    tmp_path: Path,
) -> None:
    out, err, asked = _run(tmp_path, "--max-tokens", "1000")
    used = out["prompt_tokens"] + out["completion_tokens"]
    assert used <= 1000, out
    assert out["stop_reason"] == "reached the token limit of 1000"
    assert all(isinstance(cap, int) and cap > 0 for cap in asked)  # each call capped to the room
    numbers = {int(n) for n in re.findall(r"(\d+) tokens", err.splitlines()[-1])}
    assert numbers == {used}, err  # one total, the one the JSON has


def test_a_cost_budget_is_never_overshot_and_the_summary_says_one_total(tmp_path: Path) -> None:
    out, err, _ = _run(tmp_path, "--max-cost", "0.004")
    assert 0 < out["cost"] <= 0.004, out
    assert out["stop_reason"] == "reached the cost limit of $0.004"
    summary = err.splitlines()[-1].split(" — ", 1)[1]  # after the reason: what was used
    dollars = set(re.findall(r"\$(\d+\.\d+)", summary))
    assert dollars == {f"{out['cost']:.4f}"}, err
