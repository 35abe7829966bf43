"""The demo task against a "llama.cpp-like" scripted server, with default settings.

The server behaves as llama.cpp's OpenAI-compatible server does with a small model and its
defaults: `response_format: json_schema`, native tools and list content get HTTP 500 with a
traceback, llama.cpp's own `{"type": "json_object", "schema": ...}` is taken and constrains
the reply; it computes one request at a time and paces its tokens; its context is 8k tokens
(said at `/props`, which also tells the client it is llama.cpp); its JSON replies, where no
schema constrains them, come in small-model styles (flat values, "yes"/"no", lower-case
names, fences with trailing commas, prose around the object, Python dicts).

The run uses no config file and no settings but the base URL, the default team, and the real
Docker sandbox, so the Coder's code really runs. One JSON line:
- `right_answer`: the final answer holds the true sum, and the terminal's run printed it;
- `calls`, `wasted_calls` (failed attempts plus re-asks) and `wasted_share` (target <= 0.10);
  a first run identifies the server from its informational routes (no model call) and asks
  in llama.cpp's schema spelling from the start; any step-down would count as wasted. The
  same numbers follow for a second run, which starts from what the first one learned (the
  capabilities file in the cache folder);
- `small_style_replies` and `small_style_accepted_share`: of the replies the server wrote in a
  small model's style, the share read without a re-ask; `small_styles` measures the same on
  30 facts, plans and progress ledgers in every style, through the real client.

    flock /tmp/magentic-docker.lock .venv/bin/python benchmarks/local_model.py
"""

from __future__ import annotations

import asyncio
import re
import socket
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from harness import emit, timed

from magentic.config import load_config
from magentic.events import Event
from magentic.team import run_task
from magentic.testing import ScriptedLLMServer
from magentic.testing.demo import DEMO_TASK, demo_script


def _truth() -> int:
    primes: list[int] = []
    candidate = 2
    while len(primes) < 25:
        if all(candidate % p for p in primes):
            primes.append(candidate)
        candidate += 1
    return sum(p * p for p in primes)


async def one_run(root: Path, port: int) -> dict[str, object]:
    """One demo run on a fresh llama.cpp-like server; `root` keeps what was learned."""
    events: list[Event] = []
    server = ScriptedLLMServer.llama_cpp_like(demo_script, port=port)
    with server:
        config = load_config(
            None,
            overrides={
                "models.default.base_url": server.base_url,
                "trace_dir": root / "runs",
                "cache.path": root / "cache" / "model-cache.sqlite",
            },
            environ={},
        )
        with timed() as clock:
            result = await run_task(DEMO_TASK, config, subscribers=[events.append])
        styled = server.styled_replies
    called = [e for e in events if e.kind == "model_called"]
    failed = [e for e in events if e.kind == "model_call_failed"]
    rejected = [e for e in events if e.kind == "model_output_rejected"]
    ran = [
        e
        for e in events
        if e.kind == "agent_acted" and getattr(e, "agent", "") == "ComputerTerminal"
    ]
    truth = str(_truth())
    printed = any(truth in getattr(e, "result", "") for e in ran)
    answer_ok = bool(re.search(rf"\b{truth}\b", result.answer))
    calls = len(called) + len(failed)
    wasted = len(failed) + len(rejected)
    return {
        "right_answer": answer_ok and printed and result.status == "answered",
        "status": result.status,
        "code_ran_in_sandbox": printed,
        "rounds": result.rounds,
        "calls": calls,
        "failed_attempts": len(failed),
        "reasks": len(rejected),
        "wasted_calls": wasted,
        "wasted_share": round(wasted / calls, 3) if calls else None,
        "small_style_replies": styled,
        "small_style_accepted_share": round(1 - len(rejected) / styled, 3) if styled else None,
        "seconds": round(clock.seconds, 2),
    }


async def style_share(rounds: int = 6) -> dict[str, object]:
    """Facts, plans and progress ledgers in every small-model style, through the real client:
    the share of styled replies read without a re-ask."""
    from magentic.events import EventBus
    from magentic.llm.client import ModelClient
    from magentic.llm.messages import user
    from magentic.llm.settings import ModelSettings
    from magentic.orchestrator.ledger import Facts, Plan, progress_schema
    from magentic.testing import roles

    ledger = progress_schema(["Coder", "ComputerTerminal", "WebSurfer"])
    asks = [
        (Facts, roles.facts(to_derive=["the sum"], to_look_up=["nothing"])),
        (Plan, roles.plan(("Coder", "write"), ("ComputerTerminal", "run"))),
        (ledger, roles.progress("ComputerTerminal", "Run the program.")),
        (ledger, roles.progress(satisfied=True, reason="printed")),
        (ledger, roles.progress("WebSurfer", "Look it up.", progressing=False)),
    ]
    replies = [reply for _, reply in asks] * rounds
    events: list[Event] = []
    server = ScriptedLLMServer.llama_cpp_like(replies, token_delay_s=0)
    with server:
        bus = EventBus("styles")
        bus.subscribe(events.append)
        # Plain JSON mode: with llama.cpp's schema spelling its grammar lets no styled reply
        # through, and this measures reading the replies no schema constrains.
        settings = ModelSettings(
            model="small", base_url=server.base_url, api_key="x", structured_mode="json_object"
        )
        client = ModelClient(settings, role="orchestrator", events=bus)
        try:
            for index in range(len(replies)):  # the n-th request gets the n-th reply, styled
                await client.structured([user(f"question {index}")], asks[index % len(asks)][0])
        finally:
            await client.close()
        styled = server.styled_replies
    rejected = sum(1 for e in events if e.kind == "model_output_rejected")
    return {
        "structured_replies": len(replies),
        "styled": styled,
        "accepted_without_reask_share": round(1 - rejected / styled, 3) if styled else None,
    }


async def main() -> dict[str, object]:
    """A first run (nothing known about the endpoint), then a second that remembers."""
    with tempfile.TemporaryDirectory(prefix="magentic-local-model-") as tmp:
        root = Path(tmp)
        with socket.socket() as probe:  # one port for both runs: the same endpoint
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        first = await one_run(root, port)
        second = await one_run(root, port)
    styles = await style_share()
    return {"bench": "local_model", **first, "second_run": second, "small_styles": styles}


if __name__ == "__main__":
    emit(asyncio.run(main()))
