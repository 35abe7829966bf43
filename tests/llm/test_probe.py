"""`magentic doctor --model M --base-url U` against a llama.cpp-like server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from magentic.cli import main
from magentic.testing import Reply, ScriptedLLMServer


def test_doctor_prints_the_capability_table_and_the_settings_it_will_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    with ScriptedLLMServer.llama_cpp_like([Reply.text("OK")]) as server:
        code = main(["doctor", "--model", "small", "--base-url", server.base_url])
        table = capsys.readouterr().out
        code_json = main(["doctor", "--model", "small", "--base-url", server.base_url, "--json"])
        line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        url = server.base_url
        refused = list(server.refused)
    assert code == code_json == 0
    assert "server: llama.cpp" in table and "context size: 8192" in table
    # llama.cpp takes a schema in its own spelling; the OpenAI one is never sent to it.
    assert "ok   JSON mode" in table and "ok   JSON schema:  (llama.cpp's form)" in table
    assert "no   native tools" in table and "no   list content" in table
    assert "Traceback" not in table
    found = {p["feature"]: p["status"] for p in line["probes"]}
    assert found["plain text"] == "yes" and found["images"] == "no"
    assert line["settings"] == {
        "server": "llama.cpp",
        "structured_mode": "json_schema",
        "tool_mode": "json",
        "vision": False,
        "stream": True,
        "max_concurrency": 1,
        "context_tokens": 8192,
        "timeout_s": 120.0,
        "max_retries": 4,
    }
    # What the doctor learned is where the next run looks for it.
    remembered = json.loads((tmp_path / ".magentic" / "endpoints.json").read_text())
    assert remembered[f"{url}|small"]["structured"] == "json_schema"
    assert remembered[f"{url}|small"]["server"] == "llama.cpp"
    assert not any(
        body.get("response_format", {}).get("type") == "json_schema" for *_, body in refused
    )


def test_doctor_on_an_endpoint_that_fails_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    with ScriptedLLMServer([Reply.http_error(404, "model 'nope' not found")]) as server:
        code = main(["doctor", "--model", "nope", "--base-url", server.base_url])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL plain text" in out and "not found" in out


def test_doctor_json_prints_what_it_found_when_interrupted(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import threading

    asked = threading.Event()

    def script(request: object) -> Reply:
        asked.set()
        return Reply.text("OK").slow(60)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MAGENTIC_"))}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    with ScriptedLLMServer(script, context_tokens=4096) as server:
        root = server.base_url.removesuffix("/v1")
        command = [sys.executable, "-m", "magentic.cli", "doctor", "--json"]
        command += ["--model", "slow", "--base-url", server.base_url]
        process = subprocess.Popen(
            command,
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert asked.wait(60), "the doctor never sent a probe"
            process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 130, stderr
    partial = json.loads(stdout.strip().splitlines()[-1])
    assert partial["interrupted"] is True
    assert partial["probes"][0]["status"] == "llama.cpp"
    assert partial["probes"][1] == {
        "feature": "context size",
        "status": "4096",
        "detail": f"from {root}/props",
    }
