"""The CLI's event loop at exit: what asyncio would print goes to the debug log instead."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

_CHILD = textwrap.dedent(
    """
    import asyncio, gc, logging
    from magentic.stopping import run_until_stopped

    logging.basicConfig(level=logging.ERROR)  # as the CLI sets it up

    async def boom():
        raise RuntimeError("nobody awaits me")

    async def forever():
        await asyncio.Event().wait()

    async def main():
        asyncio.ensure_future(boom())  # its exception is never retrieved
        await asyncio.sleep(0.05)
        gc.collect()
        loop = asyncio.get_running_loop()
        loop.call_exception_handler({"message": "a transport closed late"})
        asyncio.ensure_future(forever())  # still pending when the run ends
        return "done"

    print(run_until_stopped(main()))
    """
)


def test_leftover_tasks_and_loop_errors_print_nothing_at_exit(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=60, cwd=root
    )
    assert done.returncode == 0 and done.stdout == "done\n"
    assert done.stderr == "", done.stderr
    shown = subprocess.run(  # the same with the default handler: the noise this removes
        [sys.executable, "-c", _CHILD.replace("print(run_until_stopped(main()))", "print(asyncio.run(main()))")],
        capture_output=True, text=True, timeout=60, cwd=root,
    )  # fmt: skip
    assert "never retrieved" in shown.stderr and "a transport closed late" in shown.stderr
