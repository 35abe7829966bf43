"""manifest.json from real runs: what it records (and never: keys), and `bench merge` / `--resume`
refusing to mix different runs unless forced (the merge through the real CLI)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import magentic
from magentic.bench import manifest
from magentic.bench.runner import BenchOptions, merge_main, run_bench
from magentic.bench.suites import load_suite
from magentic.config import Config
from magentic.errors import ConfigError

from .solvers import LOCAL_SUITE, solve

REPO = Path(__file__).resolve().parents[2]
SECRET = "sk-test-manifest-0123456789"
IDS = ["web-station-elevation", "file-minutes-treasurer", "code-transactions-total"]


def config(model: str = "m1") -> dict[str, object]:
    return Config(
        models={"default": {"model": model, "base_url": "http://127.0.0.1:9/v1", "api_key": SECRET}}
    ).summary()


def opts(out: Path, **changes: object) -> BenchOptions:
    values: dict[str, object] = {"suite": LOCAL_SUITE, "out": out, "tasks": IDS, "config": config()}
    values.update(changes)
    return BenchOptions(**values)  # type: ignore[arg-type]


def git_head() -> str:
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return done.stdout.strip()


async def test_manifest_records_the_system_and_no_key(tmp_path: Path) -> None:
    out = tmp_path / "run"
    await run_bench(load_suite(LOCAL_SUITE), opts(out), solve)
    text = (out / "manifest.json").read_text()
    assert SECRET not in text
    data = json.loads(text)
    assert data["version"] == magentic.__version__
    assert data["git"]["commit"] == git_head()
    assert data["models"]["default"] == {"model": "m1", "base_url": "http://127.0.0.1:9/v1"}
    assert re.fullmatch(r"[0-9a-f]{64}", data["prompts_sha256"])
    assert data["suite"]["name"] == "local" and data["suite"]["kind"] == "gaia"
    assert data["suite"]["sha256"] == manifest.suite_hash(load_suite(LOCAL_SUITE))
    assert data["config"]["models"]["default"]["model"] == "m1"
    assert data["selection"]["tasks"] == IDS
    assert data["machine"]["cpus"] >= 1 and data["machine"]["python"]


def test_suite_hash_follows_the_files(tmp_path: Path) -> None:
    (tmp_path / "metadata.jsonl").write_text(
        '{"task_id": "a", "Question": "q", "Level": 1, "file_name": "f.txt"}\n'
    )
    (tmp_path / "f.txt").write_text("one")
    first = manifest.suite_hash(load_suite(tmp_path))
    assert manifest.suite_hash(load_suite(tmp_path)) == first
    (tmp_path / "f.txt").write_text("two")  # an attachment changed: a different suite
    assert manifest.suite_hash(load_suite(tmp_path)) != first


def test_prompt_hash_reads_the_prompt_constants() -> None:
    from magentic.orchestrator import prompts

    assert isinstance(prompts.SYSTEM, str) and prompts.SYSTEM
    assert manifest.prompts_hash() == manifest.prompts_hash()
    assert manifest.prompts_hash() != manifest.hashlib.sha256().hexdigest()  # not empty


def cli_merge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "magentic.cli", "bench", "merge", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(REPO)},
        timeout=120,
    )


async def test_merge_refuses_different_runs_unless_forced(tmp_path: Path) -> None:
    suite = load_suite(LOCAL_SUITE)
    one, two, other = tmp_path / "s1", tmp_path / "s2", tmp_path / "other"
    await run_bench(suite, opts(one, shard="1/2"), solve)
    await run_bench(suite, opts(two, shard="2/2"), solve)
    await run_bench(suite, opts(other, shard="2/2", config=config("m2")), solve)
    # shards of one run merge, and the merged folder says where it came from
    assert merge_main([one, two], tmp_path / "merged") == 0
    merged = json.loads((tmp_path / "merged" / "manifest.json").read_text())
    assert merged["merged_from"] == [str(one), str(two)] and merged["forced"] is False
    with pytest.raises(ConfigError, match=r"different runs .*differ in config, models"):
        merge_main([one, other], tmp_path / "mixed")
    done = cli_merge(str(one), str(other), "--out", str(tmp_path / "mixed"))
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "differ in config, models" in done.stderr and "--force" in done.stderr
    assert not (tmp_path / "mixed" / "results.jsonl").exists()  # nothing was written
    done = cli_merge(str(one), str(other), "--out", str(tmp_path / "mixed"), "--force")
    assert done.returncode == 0, done.stderr
    assert len((tmp_path / "mixed" / "results.jsonl").read_text().splitlines()) == 3
    # a folder without a manifest is refused too (an older run), unless forced
    (two / "manifest.json").unlink()
    with pytest.raises(ConfigError, match=r"has no manifest\.json"):
        merge_main([one, two], tmp_path / "again")


async def test_resume_refuses_a_different_system(tmp_path: Path) -> None:
    suite = load_suite(LOCAL_SUITE)
    out = tmp_path / "run"
    await run_bench(suite, opts(out, tasks=IDS[:1]), solve)
    with pytest.raises(ConfigError, match=r"holds a different run .*models"):
        await run_bench(suite, opts(out, resume=True, config=config("m2")), solve)
    run = await run_bench(suite, opts(out, resume=True), solve)  # more tasks: same run
    assert run.planned == 2
