"""`magentic run --json` stopped by Ctrl-C still prints what the run did."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from magentic.testing import ChatRequest, Reply, ScriptedLLMServer, roles

REPO = Path(__file__).resolve().parents[2]


def test_ctrl_c_prints_the_partial_result(tmp_path: Path) -> None:
    coder_asked = threading.Event()

    def script(request: ChatRequest) -> Reply:
        step = roles.phase(request)
        if step == "facts":
            return roles.facts()
        if step == "plan":
            return roles.plan(("Coder", "write it"))
        if step == "progress":
            return roles.progress("Coder", "Write the program.")
        coder_asked.set()
        return Reply.text("too late").slow(60)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MAGENTIC_"))}
    env["PYTHONPATH"] = str(REPO)
    with ScriptedLLMServer(script) as server:
        command = [sys.executable, "-m", "magentic.cli", "run", "Compute it.", "--json"]
        command += ["--quiet", "--base-url", server.base_url, "--agents", "Coder"]
        command += ["--trace-dir", str(tmp_path / "runs")]
        process = subprocess.Popen(
            command,
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert coder_asked.wait(60), "the run never reached the Coder"
            process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 130, stderr
    partial = json.loads(stdout.strip().splitlines()[-1])
    assert partial["status"] == "cancelled"
    assert partial["rounds"] == 1 and partial["prompt_tokens"] > 0
    assert Path(partial["trace_path"]).is_file()
