"""`magentic doctor`'s checks and `magentic sandbox run FILE`, on the real machine."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from magentic.doctor import check_all, language_of, sandbox_run_file
from magentic.errors import ConfigError
from magentic.execution.image import input_hash, sandbox_dir
from tests.conftest import require

from .conftest import require_docker, require_kind


def _engine_answers() -> bool:
    """Asked of the docker CLI, apart from the doctor's own client."""
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=60).returncode == 0


def _bwrap_works() -> bool:
    bwrap = shutil.which("bwrap")
    if not bwrap:
        return False
    probe = [bwrap, "--ro-bind", "/", "/", "--unshare-all", "true"]
    return subprocess.run(probe, capture_output=True, timeout=60).returncode == 0


async def test_doctor_reports_every_part_as_the_machine_is() -> None:
    checks = {c.name: c for c in await check_all()}
    assert list(checks) == [
        "python",
        "install",
        "docker engine",
        "sandbox image",
        "bubblewrap",
        "chromium",
        "chromium sandbox",
    ]
    assert checks["python"].ok and checks["install"].ok  # no other `magentic` library here
    # each verdict agrees with a probe of our own: a doctor saying "ok" to all would fail
    assert checks["docker engine"].ok == await asyncio.to_thread(_engine_answers)
    assert checks["bubblewrap"].ok == await asyncio.to_thread(_bwrap_works)
    assert [c.name for c in checks.values() if not c.detail] == []
    assert [c.name for c in checks.values() if not c.ok and not c.fix] == []  # a fix each


async def test_doctor_names_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """On a machine without bubblewrap and without an engine, the doctor says so, with
    the fix for each."""
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap here
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    checks = {c.name: c for c in await check_all()}
    assert not checks["docker engine"].ok
    assert checks["docker engine"].fix == "scripts/install --docker"
    assert not checks["sandbox image"].ok
    assert not checks["bubblewrap"].ok
    assert checks["bubblewrap"].fix == "scripts/install --bwrap"


@pytest.mark.docker
async def test_doctor_sees_the_built_image_as_current() -> None:
    require_docker()
    checks = {c.name: c for c in await check_all()}
    assert checks["docker engine"].ok
    image = checks["sandbox image"]
    assert image.ok, image.detail
    assert "current" in image.detail and "MB" in image.detail


@pytest.mark.docker
async def test_doctor_names_a_missing_image_and_its_fix() -> None:
    require_docker()
    checks = {c.name: c for c in await check_all(image="magentic-no-such-image:0")}
    assert not checks["sandbox image"].ok
    assert checks["sandbox image"].fix == "scripts/install --sandbox"


def test_image_hash_matches_build_script() -> None:
    """build.sh labels the image with this hash; a mismatch would make doctor cry wolf."""
    folder = sandbox_dir()
    assert folder is not None
    shell = subprocess.run(
        "cat Dockerfile requirements.txt build.sh .dockerignore | sha256sum | cut -c1-16",
        shell=True, cwd=folder, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert shell.stdout.strip() == input_hash(folder)


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("docker", marks=pytest.mark.docker),
        pytest.param("bwrap", marks=pytest.mark.bwrap),
        "local",
    ],
)
async def test_sandbox_run_file(kind: str, tmp_path: Path, workspace: Path) -> None:
    require_kind(kind)
    script = tmp_path / "job.py"
    script.write_text("open('answer.txt', 'w').write(str(sum(range(10))))\nprint('done')\n")
    result = await sandbox_run_file(script, kind=kind, timeout=60, workspace=workspace)
    assert result.exit_code == 0, result
    assert result.stdout.strip() == "done"
    assert result.files == [workspace / "answer.txt"]
    assert result.files[0].read_text() == "45"


@pytest.mark.bwrap
async def test_sandbox_run_file_timeout_and_shell(tmp_path: Path, workspace: Path) -> None:
    require_kind("bwrap")
    script = tmp_path / "spin"
    script.write_text("#!/bin/bash\necho start\nwhile :; do :; done\n")
    result = await sandbox_run_file(script, kind="bwrap", timeout=1, workspace=workspace)
    assert result.timed_out and result.stdout.strip() == "start"


def test_language_of_refuses_what_it_cannot_tell() -> None:
    assert language_of(Path("a.py"), "") == "python"
    assert language_of(Path("run"), "#!/usr/bin/env python3\n") == "python"
    assert language_of(Path("run"), "#!/bin/sh\n") == "sh"
    with pytest.raises(ConfigError, match=r"name it \.py or \.sh"):
        language_of(Path("notes.txt"), "hello")


@pytest.mark.browser
def test_doctor_starts_chromium_to_see_its_sandbox() -> None:
    """The verdict comes from a real start: the installed Chromium keeps its sandbox (as root
    through the sandbox user), a missing user or a binary that is not Chromium is named."""
    from magentic.doctor import check_browser, check_browser_sandbox

    browser = check_browser()
    require(browser.ok, "Chromium (scripts/install --browser)")
    real = check_browser_sandbox(browser.detail)
    assert real.ok and real.detail.startswith("on"), real.detail
    if os.geteuid() == 0:
        missing = check_browser_sandbox(browser.detail, user="no-such-user-xyz")
        assert not missing.ok and "no user 'no-such-user-xyz'" in missing.detail
        assert missing.fix == "scripts/install --browser"
    # Where the sandbox user can reach it (pytest's own folders are root's alone).
    with tempfile.TemporaryDirectory() as shared:
        Path(shared).chmod(0o755)
        fake = Path(shared) / "not-chromium"
        fake.write_text("#!/bin/sh\necho 'No usable sandbox!' >&2\nexit 1\n")
        fake.chmod(0o755)
        broken = check_browser_sandbox(str(fake))
    assert not broken.ok and "No usable sandbox!" in broken.detail
