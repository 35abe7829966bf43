"""`magentic` as a person runs it: a real subprocess against a real scripted endpoint."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from magentic import __version__
from magentic.testing import ChatRequest, Reply, ScriptedLLMServer, roles
from magentic.testing.demo import DEMO_TASK, demo_script


def magentic(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MAGENTIC_"))}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "magentic.cli", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        stdin=subprocess.DEVNULL,  # nobody at a terminal, even when pytest runs in one
        text=True,
        timeout=120,
    )


def test_version(tmp_path: Path) -> None:
    done = magentic("--version", cwd=tmp_path)
    assert done.returncode == 0 and __version__ in done.stdout


def test_run_prints_json_and_writes_a_trace(tmp_path: Path) -> None:
    with ScriptedLLMServer(demo_script) as server:
        done = magentic(
            "run",
            DEMO_TASK,
            "--base-url",
            server.base_url,
            "--agents",
            "Coder",
            "--trace-dir",
            str(tmp_path / "runs"),
            "--json",
            cwd=tmp_path,
        )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["status"] == "answered" and out["rounds"] == 2
    assert set(out) >= {
        "answer",
        "status",
        "stop_reason",
        "rounds",
        "prompt_tokens",
        "cost",
        "trace_path",
    }
    trace = Path(out["trace_path"])
    kinds = [json.loads(line)["kind"] for line in trace.read_text().splitlines()]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert "→ Coder" in done.stderr  # progress lines go to stderr, the JSON to stdout
    shown = magentic("trace", "show", str(trace.parent), cwd=tmp_path)
    assert shown.returncode == 0 and "Coder" in shown.stdout and "answered" in shown.stdout
    written = magentic("trace", "html", str(trace.parent), cwd=tmp_path)
    page = Path(written.stdout.strip()).read_text()
    assert written.returncode == 0 and page.startswith("<!doctype html>")
    assert "Orchestrator → Coder" in page and "def primes(count)" in page
    assert "<td>status</td><td>answered</td>" in page


def test_api_key_never_reaches_the_trace(tmp_path: Path) -> None:
    secret = "sk-test-" + "s3cr3t" * 5
    with ScriptedLLMServer(demo_script) as server:
        done = magentic(
            "run",
            DEMO_TASK + " " + secret,
            "--base-url",
            server.base_url,
            "--agents",
            "Coder",
            "--trace-dir",
            str(tmp_path / "runs"),
            "--json",
            cwd=tmp_path,
            env={"OPENAI_API_KEY": secret},
        )
        assert server.requests[0].headers.get("authorization") == f"Bearer {secret}"
    out = json.loads(done.stdout)
    text = Path(out["trace_path"]).read_text()
    assert secret not in text and "[redacted]" in text


@pytest.mark.slow
def test_replay_answers_a_recorded_run_with_the_server_gone(tmp_path: Path) -> None:
    cache = tmp_path / "cache.sqlite"
    common = [
        "--agents",
        "Coder",
        "--trace-dir",
        str(tmp_path / "runs"),
        "--json",
        "--cache-path",
        str(cache),
    ]
    with ScriptedLLMServer(demo_script) as server:
        url = server.base_url
        recorded = magentic(
            "run", DEMO_TASK, "--base-url", url, "--cache", "read_write", *common, cwd=tmp_path
        )
    assert recorded.returncode == 0, recorded.stderr
    replayed = magentic(
        "run", DEMO_TASK, "--base-url", url, "--cache", "replay", *common, cwd=tmp_path
    )
    assert replayed.returncode == 0, replayed.stderr
    first, second = json.loads(recorded.stdout), json.loads(replayed.stdout)
    assert second["answer"] == first["answer"] and second["rounds"] == first["rounds"]
    assert second["cost"] == 0  # nothing was bought twice
    missed = magentic(
        "run", "a different task", "--base-url", url, "--cache", "replay", *common, cwd=tmp_path
    )
    assert missed.returncode == 1
    assert "never recorded" in json.loads(missed.stdout)["stop_reason"]


def test_bad_config_is_exit_2_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[orchestrator]\nmax_stalls = 'many'\n")
    done = magentic("run", "x", "--config", str(bad), cwd=tmp_path)
    assert done.returncode == 2
    assert "max_stalls" in done.stderr and "Traceback" not in done.stderr
    missing = magentic(
        "run",
        "x",
        "--file",
        str(tmp_path / "nope.pdf"),
        "--base-url",
        "http://127.0.0.1:9/v1",
        cwd=tmp_path,
    )
    assert missing.returncode == 2 and "attached file not found" in missing.stderr
    usage = magentic("run", cwd=tmp_path)
    assert usage.returncode == 2


def test_unreachable_endpoint_fails_cleanly(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "fast.toml"
    config.write_text("[models.default]\nmax_retries = 1\nretry_backoff_s = 0.01\n")
    done = magentic(
        "run",
        "x",
        "--base-url",
        f"http://127.0.0.1:{port}/v1",
        "--config",
        str(config),
        "--agents",
        "Coder",
        "--trace-dir",
        str(tmp_path / "runs"),
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert "cannot reach the model endpoint" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_doctor_reports_each_part(tmp_path: Path) -> None:
    done = magentic("doctor", cwd=tmp_path)
    for part in ("python", "docker engine", "sandbox image", "bubblewrap", "chromium"):
        assert part in done.stdout
    # Exit 0 only when every check passes; otherwise each failure names its fix.
    failing = [line for line in done.stdout.splitlines() if line.startswith("FAIL")]
    assert done.returncode == (1 if failing else 0)
    assert done.stdout.count("fix:") >= len(failing)


@pytest.mark.bwrap
def test_sandbox_run_runs_a_file_as_the_terminal_would(tmp_path: Path) -> None:
    from tests.execution.conftest import require_bwrap

    require_bwrap()
    script = tmp_path / "job.py"
    script.write_text(
        "import sys\nprint('sum', sum(range(101)))\nopen('made.txt', 'w').write('x')\nsys.exit(3)\n"
    )
    done = magentic("sandbox", "run", str(script), "--sandbox", "bwrap", cwd=tmp_path)
    assert "sum 5050" in done.stdout
    assert "made.txt" in done.stdout
    assert "exit code 3" in done.stdout and done.returncode == 1
    looping = tmp_path / "loop.sh"
    looping.write_text("while true; do :; done\n")
    killed = magentic(
        "sandbox", "run", str(looping), "--sandbox", "bwrap", "--timeout", "1", cwd=tmp_path
    )
    assert killed.returncode == 1 and "time" in killed.stdout.lower()


def _answer_at_once(request: ChatRequest) -> Reply:
    """A model that declares every task done at once and answers 0 (right or wrong)."""
    step = roles.phase(request)
    if step == "facts":
        return roles.facts()
    if step == "plan":
        return roles.plan(("Coder", "answer"))
    if step == "progress":
        return roles.progress(satisfied=True)
    return Reply.text("FINAL ANSWER: 0")


@pytest.mark.slow
def test_bench_shards_and_merge_from_the_command_line(tmp_path: Path) -> None:
    suite = Path(__file__).resolve().parents[1] / "benchmarks" / "suites" / "local"
    with ScriptedLLMServer(_answer_at_once) as server:
        common = ["--limit", "4", "--agents", "Coder", "--base-url", server.base_url,
                  "--model", "scripted", "--json"]  # fmt: skip
        shards = []
        for index in (1, 2):
            out = tmp_path / f"shard{index}"
            done = magentic(
                "bench",
                str(suite),
                "--shard",
                f"{index}/2",
                "--out",
                str(out),
                *common,
                cwd=tmp_path,
            )
            assert done.returncode == 0, done.stderr
            assert json.loads(done.stdout.strip().splitlines()[-1])
            shards.append(out)
    merged = magentic(
        "bench", "merge", *map(str, shards), "--out", str(tmp_path / "all"), cwd=tmp_path
    )
    assert merged.returncode == 0, merged.stderr
    rows = [
        json.loads(line) for line in (tmp_path / "all" / "results.jsonl").read_text().splitlines()
    ]
    assert len(rows) == 4 and len({r["task_id"] for r in rows}) == 4
    assert (tmp_path / "all" / "report.md").is_file()
    assert (tmp_path / "all" / "submission.jsonl").is_file()


def _slow_progress(request: ChatRequest) -> Reply:
    step = roles.phase(request)
    if step == "facts":
        return roles.facts()
    if step == "plan":
        return roles.plan(("Coder", "write it"))
    if step == "progress":
        return roles.progress("Coder", "Write the code.").slow(30)
    return Reply.text("never reached")


@pytest.mark.parametrize(
    "sent, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"]
)
def test_a_stopped_run_ends_cleanly_with_a_complete_trace(
    tmp_path: Path, sent: int, code: int
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MAGENTIC_"))}
    with ScriptedLLMServer(_slow_progress) as server:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "magentic.cli",
                "run",
                "x",
                "--base-url",
                server.base_url,
                "--agents",
                "Coder",
                "--trace-dir",
                str(tmp_path / "runs"),
            ],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,  # no person present: Ctrl-C stops, as it always did
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as in a terminal
        )
        deadline = time.monotonic() + 30
        while len(server.requests) < 3 and time.monotonic() < deadline:  # inside the slow call
            time.sleep(0.05)
        assert process.poll() is None and len(server.requests) >= 3, (
            "the run never reached the slow model call, so the signal would test nothing"
        )
        process.send_signal(sent)
        _, err = process.communicate(timeout=30)
    assert process.returncode == code, err
    assert "Traceback" not in err
    trace = next((tmp_path / "runs").glob("*/trace.jsonl"))
    last = json.loads(trace.read_text().splitlines()[-1])
    assert last["kind"] == "run_finished" and last["status"] == "cancelled"


def _stuck_script(request: ChatRequest) -> Reply:
    step = roles.phase(request)
    if step == "facts":
        return roles.facts()
    if step == "plan":
        return roles.plan(("Stuck", "read the tape"))
    if step == "progress":
        return roles.progress("Stuck", "Read the tape.")
    return Reply.text("never reached")


@pytest.mark.parametrize("how", ["thread", "loop"])
@pytest.mark.parametrize(
    "sent, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"]
)
@pytest.mark.slow
def test_a_run_stuck_in_a_thread_or_the_loop_still_ends_on_a_signal(
    tmp_path: Path, how: str, sent: int, code: int
) -> None:
    """The watchdog: past the grace period the process exits, its trace ended, no traceback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MAGENTIC_"))}
    env["MAGENTIC_STOP_GRACE_S"] = "2"
    marker = tmp_path / "stuck"
    with ScriptedLLMServer(_stuck_script) as server:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.stuck_child", how, str(marker), "--",
             "run", "read the tape", "--base-url", server.base_url, "--agents", "Stuck",
             "--trace-dir", str(tmp_path / "runs")],
            cwd=Path(__file__).resolve().parent.parent,
            env=env,
            stdin=subprocess.DEVNULL,  # no person present: Ctrl-C stops, as it always did
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as in a terminal
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), process.communicate()[1]
        process.send_signal(sent)
        _, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    assert "Traceback" not in err
    name = "Ctrl-C" if sent == signal.SIGINT else "SIGTERM"
    assert err.strip().splitlines()[-1] == (
        f"magentic: {name}, and still running 2 s later; exiting without waiting further"
    ), err
    trace = next((tmp_path / "runs").glob("*/trace.jsonl"))
    last = json.loads(trace.read_text().splitlines()[-1])
    assert last["kind"] == "run_finished" and last["status"] == "cancelled"


@pytest.mark.slow
def test_an_attached_link_is_copied_and_noted_and_the_cap_holds(tmp_path: Path) -> None:
    real = tmp_path / "numbers.csv"
    real.write_text("n\n1\n2\n")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    runs = tmp_path / "runs"
    with ScriptedLLMServer(demo_script) as server:
        common = ["--base-url", server.base_url, "--agents", "Coder", "--trace-dir", str(runs)]
        done = magentic("run", DEMO_TASK, "--file", str(link), "--json", *common, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        trace = Path(json.loads(done.stdout)["trace_path"])
        started = json.loads(trace.read_text().splitlines()[0])
        assert started["config"]["attachments"] == [
            {"given": str(link), "copied_to": "link.csv", "bytes": 6, "symlink_to": str(real)}
        ]
        copy = trace.parent / "workspace" / "link.csv"
        assert copy.read_text() == "n\n1\n2\n" and not copy.is_symlink()
        answered_calls = len(server.requests)
        small = tmp_path / "small.toml"
        small.write_text("[attachments]\nmax_mb = 0.000001\n")
        before = {p.name for p in runs.iterdir()}
        refused = magentic(
            "run", DEMO_TASK, "--file", str(link), "--config", str(small), *common, cwd=tmp_path
        )
        (tmp_path / "dev").symlink_to("/dev/zero")
        device = magentic("run", DEMO_TASK, "--file", str(tmp_path / "dev"), *common, cwd=tmp_path)
        calls = len(server.requests)
    assert refused.returncode == 2 and "over the 0.0 MB limit" in refused.stderr
    assert refused.stderr.count("\n") == 1
    assert device.returncode == 2 and "is not a regular file" in device.stderr
    assert {p.name for p in runs.iterdir()} == before  # nothing was copied, no run started
    assert calls == answered_calls  # no model call after a refusal


KEY = "acme-" + "7f3a9c2e" * 4  # not shaped like any provider's key: only its value gives it away
TOKEN = "tok-" + "51d0b8e4" * 3


def _echoing(request: ChatRequest) -> Reply:
    """A model endpoint that repeats the caller's key (and a token it knows) everywhere."""
    key = request.headers.get("authorization", "").removeprefix("Bearer ")
    leak = f"(your key is {key}, the token {TOKEN})"
    step = roles.phase(request)
    if step == "facts":
        return roles.facts(given_or_verified=[leak])
    if step == "plan":
        return roles.plan(("Coder", f"write it {leak}"))
    if step == "progress":
        if roles.last_from(request, "Coder") is not None:
            return roles.progress(satisfied=True, reason=leak)
        return roles.progress("Coder", f"Write the code {leak}.", reason=leak)
    if step == "coder":
        return Reply.text(f"print('hi')  # {leak}")
    return Reply.text(f"Done {leak}.\nFINAL ANSWER: {key}")


@pytest.mark.slow
def test_an_echoed_key_reaches_no_sink(tmp_path: Path) -> None:
    """Console, answer, --json, logs, trace, report.html, and a bench's three files."""
    env = {"ACME_API_KEY": KEY, "BUILD_TOKEN": TOKEN, "MAGENTIC_DEBUG": "1"}
    runs = tmp_path / "runs"
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "metadata.jsonl").write_text(
        json.dumps({"task_id": "t1", "Question": "q?", "Level": 1, "Final answer": "x"}) + "\n"
    )
    with ScriptedLLMServer(_echoing) as server:
        common = [
            "--base-url",
            server.base_url,
            "--api-key-env",
            "ACME_API_KEY",
            "--agents",
            "Coder",
        ]
        plain = magentic("run", "say hi", *common, "--trace-dir", str(runs), cwd=tmp_path, env=env)
        as_json = magentic(
            "run", "say hi", *common, "--trace-dir", str(runs), "--json", cwd=tmp_path, env=env
        )
        bench = magentic(
            "bench", str(suite), *common, "--out", str(tmp_path / "b"), cwd=tmp_path, env=env
        )
        assert any(KEY in r.all_text() for r in server.requests[1:])  # it was really echoed
    assert plain.returncode == 0 and as_json.returncode == 0 and bench.returncode == 0, bench.stderr
    trace = Path(json.loads(as_json.stdout)["trace_path"])
    html = magentic("trace", "html", str(trace.parent), cwd=tmp_path)
    assert html.returncode == 0
    sinks = {
        "run stdout": plain.stdout,
        "run stderr and logs": plain.stderr,
        "--json": as_json.stdout,
        "bench output": bench.stdout + bench.stderr,
        "trace.jsonl": trace.read_text(),
        "report.html": (trace.parent / "report.html").read_text(),
    }
    for name in ("results.jsonl", "report.md", "submission.jsonl"):
        sinks[name] = (tmp_path / "b" / name).read_text()
    assert "DEBUG" in plain.stderr  # the logs were on
    for name, text in sinks.items():
        assert KEY not in text and TOKEN not in text, name
    assert "[redacted]" in sinks["run stdout"] and "[redacted]" in sinks["submission.jsonl"]


@pytest.mark.slow
def test_input_gaps_are_refused_with_exit_2_and_one_line(tmp_path: Path) -> None:
    """Nothing is called or started for a blank task, an empty or unknown team, a config
    that is a folder, not UTF-8 or not TOML, or an endpoint that is not a URL."""
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b"[models.default]\nmodel = 'caf\xe9'\n")
    broken = tmp_path / "broken.toml"
    broken.write_text("[models.default\n")
    cases = {
        ("run", ""): "the task is empty",
        ("run", "   \n\t"): "the task is empty",
        ("run", "x", "--agents", ""): "no agent named for the team",
        ("run", "x", "--agents", " , "): "no agent named for the team",
        ("run", "x", "--agents", "Coder,Hacker"): "unknown agent 'Hacker'; known agents: ",
        ("run", "x", "--config", str(tmp_path)): "is a folder, not a TOML file",
        ("run", "x", "--config", str(latin)): "is not UTF-8 text",
        ("run", "x", "--config", str(broken)): "is not valid TOML",
        ("bench", str(tmp_path), "--agents", ""): "no agent named for the team",
    }
    with ScriptedLLMServer(demo_script) as server:
        for args, message in cases.items():
            done = magentic(*args, "--base-url", server.base_url, cwd=tmp_path)
            assert done.returncode == 2, (args, done.stderr)
            assert done.stderr.count("\n") == 1 and message in done.stderr, (args, done.stderr)
        not_url = magentic("run", "x", "--base-url", "not a url", cwd=tmp_path)
        assert not server.requests  # no model was called for any of them
    assert not_url.returncode == 2 and not_url.stderr.count("\n") == 1
    assert "base_url 'not a url' of [models.default] is not an http(s) URL" in not_url.stderr


def _reads_huge(request: ChatRequest) -> Reply:
    if "open_path" in request.tool_names:
        return Reply.tool_call("open_path", {"path": "huge.csv"})
    step = roles.phase(request)
    if step == "facts":
        return roles.facts()
    if step == "plan":
        return roles.plan(("FileSurfer", "read huge.csv"))
    if step == "progress":
        return roles.progress("FileSurfer", "Open huge.csv.")
    return Reply.text("No answer: the file could not be read in time.")


@pytest.mark.slow
def test_a_budget_stop_mid_conversion_exits_quietly_and_leaves_no_process(tmp_path: Path) -> None:
    huge = tmp_path / "huge.csv"
    row = "1234,some words in a cell,5678.9,another cell of text,more\n"
    huge.write_text("a,b,c,d,e\n" + row * (20 * 2**20 // len(row)))
    with ScriptedLLMServer(_reads_huge) as server:
        done = magentic(
            "run", "what is in huge.csv?", "--file", str(huge), "--agents", "FileSurfer",
            "--max-seconds", "4", "--base-url", server.base_url,
            "--trace-dir", str(tmp_path / "runs"), "--json", cwd=tmp_path,
        )  # fmt: skip
    assert done.returncode == 1, done.stderr
    out = json.loads(done.stdout)
    assert out["status"] == "out_of_budget", out
    for noise in ("Traceback", "Task was destroyed", "Exception ignored", "never retrieved"):
        assert noise not in done.stderr, done.stderr
    kinds = [json.loads(line)["kind"] for line in Path(out["trace_path"]).read_text().splitlines()]
    assert "delegated" in kinds and kinds[-1] == "run_finished"
    assert _processes_in(tmp_path) == []  # the conversion worker went with the run


def _processes_in(folder: Path) -> list[int]:
    """Processes whose working directory is `folder` (the run's children inherit it)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and Path(os.readlink(entry / "cwd")) == folder:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_a_second_signal_exits_at_once(tmp_path: Path) -> None:
    """With a long grace period, the second SIGTERM does not wait for it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MAGENTIC_"))}
    env["MAGENTIC_STOP_GRACE_S"] = "600"
    marker = tmp_path / "stuck"
    with ScriptedLLMServer(_stuck_script) as server:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.stuck_child", "thread", str(marker), "--",
             "run", "read the tape", "--base-url", server.base_url, "--agents", "Stuck",
             "--trace-dir", str(tmp_path / "runs")],
            cwd=Path(__file__).resolve().parent.parent, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        ended = False  # the first signal ends the run; the stuck thread keeps the process
        while not ended and process.poll() is None and time.monotonic() < deadline:
            traces = list((tmp_path / "runs").glob("*/trace.jsonl"))
            ended = bool(traces) and '"run_finished"' in traces[0].read_text()
            time.sleep(0.05)
        assert ended and process.poll() is None
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)  # far less than the 600 s grace
    assert process.returncode == 143, err
    last = err.strip().splitlines()[-1]
    assert last == "magentic: SIGTERM a second time; exiting without waiting further"


def _reads_report(request: ChatRequest) -> Reply:
    if "open_path" in request.tool_names:
        return Reply.tool_call("open_path", {"path": "report.docx"})
    step = roles.phase(request)
    if step == "facts":
        return roles.facts()
    if step == "plan":
        return roles.plan(("FileSurfer", "read report.docx"))
    if step == "progress":
        said = roles.last_from(request, "FileSurfer")
        if said is not None:
            return roles.progress(satisfied=True, reason=said[:200])
        return roles.progress("FileSurfer", "Open report.docx.")
    return Reply.text("The report could not be read: it is a zip bomb.")


@pytest.mark.slow
def test_an_attached_docx_bomb_ends_in_an_observation(tmp_path: Path) -> None:
    """Defect 1 as it was met: a small .docx that unpacks to far more than memory allows."""
    bomb = tmp_path / "report.docx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        with zf.open("word/document.xml", "w", force_zip64=True) as fh:
            for _ in range(300):
                fh.write(b" " * (1 << 20))
    assert bomb.stat().st_size < 2 * 2**20
    with ScriptedLLMServer(_reads_report) as server:
        done = magentic(
            "run", "what does the report say?", "--file", str(bomb), "--agents", "FileSurfer",
            "--base-url", server.base_url, "--trace-dir", str(tmp_path / "runs"), "--json",
            cwd=tmp_path,
        )  # fmt: skip
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    out = json.loads(done.stdout)
    events = [json.loads(line) for line in Path(out["trace_path"]).read_text().splitlines()]
    opened = [e for e in events if e["kind"] == "agent_acted" and e["action"] == "open_path"]
    assert "would unpack to 300.0 MB, over the 256.0 MB limit" in opened[0]["error"]
    assert events[-1]["kind"] == "run_finished"
    assert _processes_in(tmp_path) == []
