"""Serve a scripted model: `python -m magentic.testing --demo` or `--script FILE`.

FILE is a Python file defining `script(request) -> Reply` (or a list `REPLIES`). The server
prints its base URL and runs until Ctrl-C, so `magentic run --base-url URL ...` can talk to it.
"""

from __future__ import annotations

import argparse
import runpy
import sys
import threading
from typing import Any

from magentic.testing.server import ScriptedLLMServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m magentic.testing")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--demo", action="store_true", help="the built-in demo team script")
    source.add_argument("--script", help="a .py file defining script(request) or REPLIES")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any)")
    parser.add_argument(
        "--llama-cpp-like",
        action="store_true",
        help="behave like llama.cpp's server with a small model (500s on JSON schema, tools "
        "and list content; one request at a time; 8k context; small-model JSON)",
    )
    args = parser.parse_args(argv)
    script: Any
    if args.demo:
        from magentic.testing.demo import demo_script

        script = demo_script
    else:
        namespace = runpy.run_path(args.script)
        script = namespace.get("script") or namespace.get("REPLIES")
        if script is None:
            print(f"{args.script} defines neither script() nor REPLIES", file=sys.stderr)
            return 2
    if args.llama_cpp_like:
        server = ScriptedLLMServer.llama_cpp_like(script, port=args.port).start()
    else:
        server = ScriptedLLMServer(script, port=args.port).start()
    print(server.base_url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
