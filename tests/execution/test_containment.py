"""The same containment proofs for every sandbox (Docker and bubblewrap, see conftest).

Each test runs real code in the real sandbox and checks what the code could and could not
do, and that the result says so in words a model can act on.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from magentic.execution import CodeBlock

from .conftest import MakeSandbox, leftovers, require_quota, until_running


def py(code: str) -> CodeBlock:
    return CodeBlock("python", code)


def spawner(token: str) -> str:
    """Python that starts a sleeper in its own session (so a process-group kill alone would
    miss it), its command line tagged with `token`, then spins forever."""
    return (
        "import subprocess, sys\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)', "
        f"'{token}'], start_new_session=True)\n"
        "print('spawned', flush=True)\n"
        "while True:\n"
        "    pass\n"
    )


async def test_infinite_loop_is_killed_at_the_timeout(sandbox: MakeSandbox) -> None:
    executor = await sandbox()
    token = f"tok-{uuid.uuid4().hex}"
    result = await executor.run([py(spawner(token))], timeout=2)
    assert result.timed_out
    assert result.limit_hit == "timeout"
    assert result.exit_code is None
    assert "spawned" in result.stdout  # output up to the kill is kept
    assert any("time limit" in note for note in result.notes)
    assert await leftovers(executor, token) == []
    again = await executor.run([py("print(6 * 7)")])
    assert (again.exit_code, again.stdout.strip()) == (0, "42")  # the sandbox still works


async def test_cancelled_run_leaves_no_process(sandbox: MakeSandbox) -> None:
    executor = await sandbox()
    token = f"tok-{uuid.uuid4().hex}"
    task = asyncio.create_task(executor.run([py(spawner(token))], timeout=60))
    await until_running(executor, token)  # cancel only once the sleeper really runs
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    else:
        raise AssertionError("run() swallowed the cancellation")
    assert await leftovers(executor, token) == []
    again = await executor.run([py("print('alive')")])
    assert again.stdout.strip() == "alive"


async def test_fork_bomb_is_contained(sandbox: MakeSandbox) -> None:
    executor = await sandbox(pids=64)
    bomb = (
        "import os, time\n"
        "n = 0\n"
        "while True:\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(30)\n"
        "        os._exit(0)\n"
        "    n += 1\n"
        "    if n > 5000:\n"
        "        print('no limit stopped', n)\n"
        "        break\n"
    )
    result = await executor.run([py(bomb)], timeout=30)
    assert "no limit stopped" not in result.stdout
    assert result.limit_hit == "pids", result
    assert "Resource temporarily unavailable" in result.stderr
    assert any("64" in note for note in result.notes)
    after = await executor.run([py("print('recovered')")])
    assert after.stdout.strip() == "recovered"


async def test_memory_hog_is_contained(sandbox: MakeSandbox) -> None:
    executor = await sandbox(memory="256m")
    hog = (
        "chunks = []\n"
        "for i in range(40):\n"
        "    chunks.append(bytearray(64 * 1024 * 1024))\n"
        "    print('held', (i + 1) * 64, 'MB', flush=True)\n"
        "print('no limit stopped')\n"
    )
    result = await executor.run([py(hog)], timeout=60)
    assert result.exit_code != 0
    assert "no limit stopped" not in result.stdout
    assert result.limit_hit == "memory", result
    assert any("256m" in note for note in result.notes)


async def test_network_call_is_blocked_and_reported(sandbox: MakeSandbox) -> None:
    executor = await sandbox()
    # Only a name lookup: with no network nothing leaves the sandbox.
    result = await executor.run([py("import socket\nprint(socket.getaddrinfo('pypi.org', 443))")])
    assert result.exit_code == 1
    assert result.limit_hit == "network", result
    assert any("no network" in note for note in result.notes)


async def test_write_outside_the_workspace_fails(sandbox: MakeSandbox) -> None:
    executor = await sandbox()
    # /var/tmp is open to every user on the host, so only the sandbox can stop this write.
    outside = Path("/var/tmp") / f"magentic-outside-{uuid.uuid4().hex}.txt"
    targets = [str(outside), "/etc/magentic-escape", "/usr/magentic-escape", "/magentic-escape"]
    code = (
        f"targets = {targets!r}\n"
        "for path in targets:\n"
        "    try:\n"
        "        open(path, 'w').write('escaped')\n"
        "        print('WROTE', path)\n"
        "    except OSError as exc:\n"
        "        print('blocked', path, type(exc).__name__)\n"
        "open('/tmp/scratch.txt', 'w').write('tmp is writable')\n"
        "print(open('/tmp/scratch.txt').read())\n"
    )
    result = await executor.run([py(code)])
    assert result.exit_code == 0, result
    assert "WROTE" not in result.stdout
    assert result.stdout.count("blocked") == len(targets)
    assert "tmp is writable" in result.stdout
    # and on the host: nothing arrived (the sandbox's /tmp is its own, too)
    on_host = [outside, Path("/etc/magentic-escape"), Path("/tmp/scratch.txt")]
    assert not any(await asyncio.to_thread(lambda: [p.exists() for p in on_host]))


async def test_workspace_write_comes_back_as_a_file(sandbox: MakeSandbox, workspace: Path) -> None:
    (workspace / "input.txt").write_text("3\n4\n5\n")
    executor = await sandbox()
    code = (
        "import os\n"
        "numbers = [int(x) for x in open('input.txt')]\n"
        "os.makedirs('out', exist_ok=True)\n"
        "open('out/total.txt', 'w').write(str(sum(numbers)))\n"
        "print('uid', os.getuid())\n"
    )
    result = await executor.run([py(code)])
    assert result.exit_code == 0, result
    assert result.files == [workspace / "out" / "total.txt"]
    assert (workspace / "out" / "total.txt").read_text() == "12"
    assert "uid 0" not in result.stdout  # never root inside


async def test_blocks_run_in_order_and_stop_at_the_first_failure(
    sandbox: MakeSandbox, workspace: Path
) -> None:
    executor = await sandbox()
    blocks = [
        py("open('a.txt', 'w').write('from python')\nprint('first')"),
        CodeBlock("sh", "cat a.txt; echo; echo second; exit 3"),
        CodeBlock("bash", "echo never > c.txt"),
    ]
    result = await executor.run(blocks)
    assert result.exit_code == 3
    assert result.stdout.split() == ["first", "from", "python", "second"]
    assert not (workspace / "c.txt").exists()
    assert result.files == [workspace / "a.txt"]


async def test_unknown_language_is_a_result_not_an_exception(sandbox: MakeSandbox) -> None:
    executor = await sandbox()
    result = await executor.run([CodeBlock("javascript", "console.log(1)")])
    assert result.exit_code == 1
    assert any("javascript" in note and "python" in note for note in result.notes)


async def test_missing_package_is_named(sandbox: MakeSandbox) -> None:
    executor = await sandbox()
    result = await executor.run([py("import surely_not_installed_pkg.sub")])
    assert result.exit_code == 1
    assert "ModuleNotFoundError" in result.stderr
    assert any(
        "surely_not_installed_pkg is not installed" in n and "no network" in n for n in result.notes
    )


async def test_large_output_keeps_head_and_tail(sandbox: MakeSandbox) -> None:
    executor = await sandbox(output_limit=2000)
    code = "print('HEAD')\nfor i in range(100000):\n    print('line', i)\nprint('TAIL')"
    result = await executor.run([py(code)])
    assert result.exit_code == 0
    assert result.truncated
    assert result.stdout.startswith("HEAD")
    assert result.stdout.rstrip().endswith("TAIL")
    assert len(result.stdout) < 2200
    assert any("stdout was" in note and "cut" in note for note in result.notes)


async def test_a_large_block_arrives_whole(sandbox: MakeSandbox) -> None:
    executor = await sandbox()
    payload = "é" * 150_000 + "the end"  # many argv chunks for Docker, multi-byte text
    code = f"text = {payload!r}\nprint(len(text), text[-7:])\n"
    result = await executor.run([py(code)])
    assert result.exit_code == 0, result.stderr[-500:]
    assert result.stdout.split() == [str(len(payload)), "the", "end"]


@pytest.fixture
def host_secrets() -> Iterator[tuple[Path, Path]]:
    """A secret in a world-readable host folder outside the workspace, and another run's
    workspace with its trace: only the sandbox can keep the code from them."""
    secret_dir = Path(tempfile.mkdtemp(prefix="magentic-secret-", dir="/var/tmp"))
    other_run = Path(tempfile.mkdtemp(prefix="magentic-other-run-"))
    for folder in (secret_dir, other_run):
        folder.chmod(0o755)
    (secret_dir / "secret.txt").write_text("TOP-SECRET-VALUE")
    (other_run / "trace.jsonl").write_text('{"event": "other run"}\n')
    for path in (secret_dir / "secret.txt", other_run / "trace.jsonl"):
        path.chmod(0o644)
    yield secret_dir, other_run
    shutil.rmtree(secret_dir, ignore_errors=True)
    shutil.rmtree(other_run, ignore_errors=True)


async def test_code_sees_only_the_runtime_and_the_workspace(
    sandbox: MakeSandbox, workspace: Path, host_secrets: tuple[Path, Path]
) -> None:
    secret_dir, other_run = host_secrets
    (workspace / "mine.txt").write_text("my data")
    executor = await sandbox()
    probes = [
        str(secret_dir / "secret.txt"),
        str(other_run / "trace.jsonl"),
        str(other_run),
        str(Path.cwd()),  # this checkout, with its runs/ folder
        "/root",
        "/home",
        "/work",
        "/etc/shadow",
        "/var/tmp",
    ]
    code = (
        "import os, pkgutil, importlib\n"
        f"for path in {probes!r}:\n"
        "    try:\n"
        "        if os.path.isdir(path):\n"
        "            print('LISTED', path, sorted(os.listdir(path))[:3])\n"
        "        else:\n"
        "            print('READ', path, open(path).read()[:40])\n"
        "    except OSError as exc:\n"
        "        print('hidden', path, type(exc).__name__)\n"
        "print('own', open('mine.txt').read())\n"
        "import json, sqlite3, ssl, ctypes, decimal\n"
        "imported = []\n"
        "for mod in pkgutil.iter_modules():\n"
        "    where = getattr(mod.module_finder, 'path', '')\n"
        "    if where.endswith(('site-packages', 'dist-packages')) and not mod.name.startswith('_'):\n"
        "        try:\n"
        "            importlib.import_module(mod.name)\n"
        "            imported.append(mod.name)\n"
        "        except Exception:\n"
        "            pass\n"
        "    if len(imported) >= 3:\n"
        "        break\n"
        "print('packages', imported)\n"
    )
    result = await executor.run([py(code)])
    assert result.exit_code == 0, result
    assert "TOP-SECRET" not in result.stdout and "other run" not in result.stdout
    # each probe is absent, closed, or (an image's own empty folder) empty
    shown = [line for line in result.stdout.splitlines() if line.startswith(("LISTED", "READ"))]
    assert all(line.startswith("LISTED") and line.endswith(" []") for line in shown), shown
    assert result.stdout.count("hidden") + len(shown) == len(probes)
    assert result.stdout.count("hidden") >= 4  # the secret, the other run, this checkout
    assert "own my data" in result.stdout
    packages = result.stdout.split("packages", 1)[1]
    assert packages.strip() not in ("", "[]"), result.stdout  # the interpreter's packages load


async def test_a_write_past_the_workspace_quota_fails_inside(
    sandbox: MakeSandbox, workspace: Path
) -> None:
    """A 20 GiB preallocation gets ENOSPC inside the sandbox; the run goes on, the result
    names the quota, and files still come and go through the host's workspace folder."""
    require_quota()
    (workspace / "attached.csv").write_text("a,b\n1,2\n")
    executor = await sandbox(workspace_quota="64m")
    code = (
        "import errno, os\n"
        "print(open('attached.csv').read().split()[1])\n"
        "fd = os.open('huge.bin', os.O_WRONLY | os.O_CREAT)\n"
        "try:\n"
        "    os.posix_fallocate(fd, 0, 20 * 1024**3)\n"
        "    print('ALLOCATED 20 GiB')\n"
        "except OSError as exc:\n"
        "    print('refused', errno.errorcode[exc.errno], flush=True)\n"
        "os.close(fd)\n"
        "os.remove('huge.bin')\n"
        "with open('fill.bin', 'wb') as f:\n"  # no handler: the error ends the block
        "    for _ in range(200):\n"
        "        f.write(bytes(1024 * 1024))\n"
        "        f.flush()\n"
        "print('WROTE 200 MB')\n"
    )
    result = await executor.run([py(code)])
    assert "ALLOCATED" not in result.stdout and "WROTE" not in result.stdout
    assert "1,2" in result.stdout
    assert "refused ENOSPC" in result.stdout or "refused EDQUOT" in result.stdout, result
    assert result.exit_code == 1 and "No space left on device" in result.stderr
    assert result.limit_hit == "workspace quota", result
    assert any("64m" in note and "workspace" in note for note in result.notes)
    # the host sees the sandbox's files at once, and the sandbox sees the host's
    assert (workspace / "fill.bin").stat().st_size < 80 * 1024**2
    (workspace / "downloaded.txt").write_text("from the host")
    code = (
        "import os\n"
        "os.remove('fill.bin')\n"
        "open('result.txt', 'w').write('done')\n"
        "print(open('downloaded.txt').read())\n"
    )
    after = await executor.run([py(code)])
    assert after.exit_code == 0 and after.stdout.strip() == "from the host", after
    assert after.limit_hit is None
    await executor.close()
    # back on the plain folder: every file kept, the quota's image gone
    assert await asyncio.to_thread(plain_folder_with, workspace) == [
        "attached.csv",
        "downloaded.txt",
        "result.txt",
    ]


def plain_folder_with(workspace: Path) -> list[str]:
    """The workspace's files once it is no longer a mount and no quota file is left."""
    assert not os.path.ismount(workspace)
    assert not [p for p in workspace.parent.iterdir() if p.name.startswith(f".{workspace.name}-")]
    return sorted(p.name for p in workspace.iterdir())


async def test_without_a_quota_filesystem_one_file_is_still_capped(
    sandbox: MakeSandbox, workspace: Path
) -> None:
    """Where the quota cannot be mounted (not root; here: the workspace is a mount of
    something else already), each sandbox still caps every file at the quota's size."""
    require_quota()  # root, to make the workspace a mount for this test
    await asyncio.to_thread(subprocess.run, ["mount", "--bind", workspace, workspace], check=True)
    try:
        executor = await sandbox(workspace_quota="16m")
        code = "import os\nwith open('big.bin', 'wb') as f:\n    f.write(bytes(64 * 1024**2))\n"
        try:
            result = await executor.run([py(code)])
        finally:
            await executor.close()
    finally:
        await asyncio.to_thread(subprocess.run, ["umount", workspace], check=True)
    assert result.exit_code == 1 and "File too large" in result.stderr, result
    assert result.limit_hit == "workspace quota"
    assert any("not enforced" in note for note in result.notes)  # said, once
    assert (workspace / "big.bin").stat().st_size <= 16 * 1024**2
