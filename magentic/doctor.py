"""`magentic doctor` and `magentic sandbox run`: is this machine ready, and does code run?

Each check says what it found and, when something is missing, the one command that fixes
it. The checks run side by side (each blocking probe in its own thread), so the doctor
answers in about the time of its slowest probe.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from magentic.errors import ConfigError
from magentic.execution import CodeBlock, ExecutionResult, SandboxSettings, make_executor
from magentic.execution.settings import DEFAULT_IMAGE
from magentic.mcp.settings import McpServerSettings, McpSettings

if TYPE_CHECKING:
    from magentic.llm.probe import ProbeRow
    from magentic.llm.settings import ModelSettings

MIN_PYTHON = (3, 10)
_BROWSERS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


async def check_all(image: str = DEFAULT_IMAGE, mcp: McpSettings | None = None) -> list[Check]:
    """Every readiness check, in a fixed order (the configured MCP servers last)."""
    (docker_check, image_check), bwrap_check, browser_checks, mcp_checks = await asyncio.gather(
        _docker_checks(image),
        asyncio.to_thread(check_bwrap),
        _browser_checks(),
        check_mcp_servers(mcp),
    )
    return [
        check_python(),
        check_install(),
        docker_check,
        image_check,
        bwrap_check,
        *browser_checks,
        *mcp_checks,
    ]


def check_install(path: Sequence[str] | None = None) -> Check:
    """No other library named `magentic` in this environment (see `magentic.installed`)."""
    from magentic import __version__
    from magentic.installed import DIST_NAME, other_magentic_libraries

    others = other_magentic_libraries(path)
    if not others:
        return Check("install", True, f"{DIST_NAME} {__version__}, the only `magentic` here")
    return Check(
        "install",
        False,
        f"another library named magentic is installed here too ({', '.join(others)}): it "
        "has the same import name, so the two overwrite each other's files",
        f"pip uninstall magentic, then pip install --force-reinstall '{DIST_NAME}' (or keep "
        "them in separate virtual environments)",
    )


async def check_mcp_servers(mcp: McpSettings | None) -> list[Check]:
    """Each `[mcp.servers.NAME]`: started (or reached, under the URL policy), its tools
    listed, and closed again, as a run would at the MCP agent's first step."""
    if mcp is None or not mcp.servers:
        return []
    try:
        from magentic.agents.mcp_tools import url_checker
        from magentic.agents.web_surfer.url_policy import UrlPolicy
        from magentic.mcp.connection import McpAddressRefused, McpConnection, McpError
    except ModuleNotFoundError as error:
        missing = f"the package {error.name!r} is not installed"
        fix = "pip install 'magentic-team[mcp]'"
        return [Check(f"mcp {name}", False, missing, fix) for name in mcp.servers]
    check_url = url_checker(UrlPolicy(mcp.url_policy))

    async def one(name: str, settings: McpServerSettings) -> Check:
        conn = McpConnection(name, settings, check_url)
        try:
            tools = await conn.start()
        except McpAddressRefused as error:
            return Check(f"mcp {name}", False, error.reason, _policy_fix(settings.url or ""))
        except McpError as error:
            return Check(f"mcp {name}", False, error.reason, f"check [mcp.servers.{name}]")
        finally:
            await conn.close()
        names = ", ".join(t.name for t in tools)
        return Check(f"mcp {name}", True, f"{settings.transport}, {len(tools)} tools: {names}")

    return list(await asyncio.gather(*(one(n, s) for n, s in mcp.servers.items())))


def _policy_fix(url: str) -> str:
    """Where an MCP address the URL policy refuses is let through: `[mcp.url_policy]`."""
    parts = urlsplit(url)
    host = parts.hostname or "HOST"
    where = f"{host}:{parts.port}" if parts.port else host
    return f'if you trust it, add it to [mcp.url_policy]: allow = ["{where}"]'


def check_python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    ok = sys.version_info[:2] >= MIN_PYTHON
    return Check(
        "python",
        ok,
        f"Python {version} ({sys.executable})",
        "" if ok else f"use Python {'.'.join(map(str, MIN_PYTHON))} or newer",
    )


async def _docker_checks(image: str) -> tuple[Check, Check]:
    from magentic.errors import SandboxError

    try:
        from magentic.execution.docker_executor import _api

        api = await asyncio.to_thread(_api)
        version = (await asyncio.to_thread(api.version)).get("Version", "?")
    except SandboxError as exc:
        engine = Check("docker engine", False, exc.reason, "scripts/install --docker")
        return engine, Check(
            "sandbox image",
            False,
            "not checked: no Docker engine",
            "scripts/install --sandbox (starts the engine, then builds the image)",
        )
    engine = Check("docker engine", True, f"Docker {version} reachable")
    return engine, await asyncio.to_thread(check_image, api, image)


def check_image(api: object, image: str) -> Check:
    from magentic.execution.image import image_status

    status = image_status(api, image)
    if not status.present:
        return Check("sandbox image", False, f"{image} is missing", "scripts/install --sandbox")
    if status.current is False:
        return Check(
            "sandbox image",
            False,
            f"{image} was built from older inputs ({status.built_hash or 'no hash'}, "
            f"sandbox/ is now {status.expected_hash})",
            "scripts/install --sandbox",
        )
    note = "current" if status.current else "present (no sandbox/ folder to compare with)"
    return Check("sandbox image", True, f"{image} {note}, {status.size_mb:.0f} MB")


def check_bwrap() -> Check:
    """bubblewrap present and able to make its namespaces (user namespaces may be off)."""
    bwrap = shutil.which("bwrap")
    if not bwrap:
        return Check("bubblewrap", False, "bwrap not found", "scripts/install --bwrap")
    probe = [bwrap, "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "true"]
    try:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError) as exc:
        return Check("bubblewrap", False, f"{bwrap} failed to run: {exc}", "")
    if done.returncode != 0:
        return Check(
            "bubblewrap",
            False,
            f"{bwrap} cannot make a sandbox: {done.stderr.strip()[:200]}",
            "enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1)",
        )
    return Check("bubblewrap", True, f"{bwrap} works")


def check_browser() -> Check:
    """The WebSurfer's browser: its own locator when present, else the usual places."""
    located = _web_surfer_locate()
    if located:
        return Check("chromium", True, located)
    for path in (*_BROWSERS, *_playwright_browsers()):
        if os.access(path, os.X_OK):
            return Check("chromium", True, path)
    return Check("chromium", False, "no Chromium found", "scripts/install --browser")


async def _browser_checks() -> tuple[Check, Check]:
    browser = await asyncio.to_thread(check_browser)
    if not browser.ok:
        return browser, Check(
            "chromium sandbox", False, "no Chromium to check", "scripts/install --browser"
        )
    return browser, await asyncio.to_thread(check_browser_sandbox, browser.detail)


def check_browser_sandbox(chromium: str, user: str | None = None) -> Check:
    """Whether Chromium keeps its own sandbox on this machine, found by starting it the way
    the WebSurfer would (as root: as `[web] sandbox_user`) and loading a blank page. Without
    it a page that exploits the renderer has the run's user's rights."""
    from magentic.agents.web_surfer.sandbox_user import prepare
    from magentic.agents.web_surfer.settings import WebSurferSettings

    name = "chromium sandbox"
    user = WebSurferSettings().sandbox_user if user is None else user
    with tempfile.TemporaryDirectory(prefix="magentic-doctor-") as tmp:
        plan = prepare(chromium, user, Path(tmp), headless=True)
        if plan.no_sandbox:
            return Check(name, False, f"off: {plan.reason}", "scripts/install --browser")
        profile = Path(tmp) / "profile"
        profile.mkdir()
        argv = [
            plan.executable,
            "--headless=new",
            f"--user-data-dir={profile}",
            "--no-first-run",
            "--disable-gpu",
            "--dump-dom",
            "about:blank",
        ]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.SubprocessError) as exc:
            return Check(name, False, f"Chromium did not start: {exc}", "scripts/install --browser")
    if done.returncode == 0 and "<html" in done.stdout.lower():
        who = f"as the user {user}" if plan.uid is not None else "as this user"
        return Check(name, True, f"on (Chromium runs {who})")
    lines = done.stderr.strip().splitlines()
    last = next((line for line in reversed(lines) if "sandbox" in line.lower()), "")
    last = (last or (lines[-1] if lines else f"exit code {done.returncode}"))[:200]
    return Check(
        name,
        False,
        f"Chromium would not start with its sandbox: {last}",
        "allow user namespaces (sysctl -w kernel.unprivileged_userns_clone=1) or see MACHINE-NOTES",
    )


def _web_surfer_locate() -> str:
    try:
        done = subprocess.run(
            [sys.executable, "-m", "magentic.agents.web_surfer.locate"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    lines = done.stdout.strip().splitlines()
    return lines[-1] if done.returncode == 0 and lines else ""


def _playwright_browsers() -> list[str]:
    root = Path(os.environ.get("PLAYWRIGHT_BROWSERS_PATH") or Path.home() / ".cache/ms-playwright")
    return [str(p) for p in sorted(root.glob("chromium*/chrome-linux*/chrome"), reverse=True)]


# ------------------------------------------------------------------ doctor --base-url URL


async def check_endpoint(
    settings: ModelSettings, memory_path: Path | None, on_row: Callable[[ProbeRow], None]
) -> dict[str, Any]:
    """Probe a model endpoint; rows go to `on_row` as they come. Returns the settings a run
    will use, and stores what was learned beside the model cache for the next run."""
    from magentic.llm.capabilities import CapabilityMemory
    from magentic.llm.probe import probe_endpoint

    _, chosen = await probe_endpoint(settings, CapabilityMemory(memory_path), on_row)
    return chosen


def format_probe_row(row: ProbeRow) -> str:
    mark = {"yes": "ok  ", "no": "no  ", "error": "FAIL"}.get(row.status, "    ")
    value = "" if row.status in ("yes", "no", "error") else f" {row.status}"
    detail = f"  ({row.detail})" if row.detail else ""
    return f"{mark} {row.feature}:{value}{detail}"


# ------------------------------------------------------------------ sandbox run FILE

_LANGUAGES = {".py": "python", ".sh": "sh", ".bash": "bash"}


def language_of(path: Path, text: str) -> str:
    """python or a shell, from the file's suffix or else its #! line."""
    by_suffix = _LANGUAGES.get(path.suffix.lower())
    if by_suffix:
        return by_suffix
    first = text.splitlines()[0] if text else ""
    if first.startswith("#!"):
        if "python" in first:
            return "python"
        if "bash" in first:
            return "bash"
        if first.rstrip().endswith("sh"):
            return "sh"
    raise ConfigError(f"cannot tell what {path} is: name it .py or .sh, or give it a #! line")


async def sandbox_run_file(
    path: Path,
    kind: str = "docker",
    timeout: float | None = None,
    network: bool = False,
    *,
    settings: SandboxSettings | None = None,
    workspace: Path | None = None,
) -> ExecutionResult:
    """Run a Python or shell file exactly as the ComputerTerminal would run a code block.

    The workspace is a new folder unless given; it is kept, so the files the result names
    can be looked at afterwards.
    """
    try:
        text = await asyncio.to_thread(path.read_text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError:
        raise ConfigError(
            f"{path} is not a text file: sandbox run takes Python or shell code (.py, .sh)"
        ) from None
    block = CodeBlock(language=language_of(path, text), code=text)
    update: dict[str, object] = {"network": network}
    if timeout is not None:
        update["timeout"] = timeout
    settings = (settings or SandboxSettings()).model_copy(update=update)
    if workspace is None:
        workspace = Path(tempfile.mkdtemp(prefix="magentic-sandbox-run-"))
    executor = make_executor(kind, workspace, settings)
    try:
        await executor.start()
        return await executor.run([block], timeout=settings.timeout)
    finally:
        await executor.close()
