"""The one command line: `python -m functions <command>`.

- `serve`: the local host (HTTP routes under /api/, timers on their schedules).
- `emulator`: the local LeanIX emulator.
- `invoke <function>`: run one timer or queue function once and print a JSON summary.
- `demo`: what `make run` calls; runs every function's scenario against the emulator.

The local pieces live in `local/` (not deployed); they are imported only by the command that needs them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any

from shared.errors import BundleError
from shared.logging import setup_logging


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m functions", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the function app locally")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=7071)
    serve.add_argument("--no-timers", action="store_true", help="do not fire timer functions")

    emulator = commands.add_parser("emulator", help="run the local LeanIX emulator", add_help=False)
    emulator.add_argument("args", nargs=argparse.REMAINDER)

    invoke = commands.add_parser("invoke", help="run one timer or queue function once")
    invoke.add_argument("function_name")

    commands.add_parser("demo", help="run the end-to-end demo against the emulator (make run)")
    commands.add_parser("ensure-subscription", help="create or update the LeanIX webhook subscription")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["emulator"]:
        from local.emulator.server import main as emulator_main

        return int(emulator_main(args_list[1:]) or 0)

    args = _parser().parse_args(args_list)
    setup_logging()
    try:
        if args.command == "serve":
            from local.host import serve

            serve(args.host, args.port, timers=not args.no_timers)
            return 0
        if args.command == "invoke":
            return _invoke(args.function_name)
        if args.command == "ensure-subscription":
            return _ensure_subscription()
        if args.command == "demo":
            from local.demo import run_demo

            return int(run_demo())
    except BundleError as exc:
        print(json.dumps({"ok": False, "error": str(exc)}), file=sys.stderr)
        return 2
    return 2


def _ensure_subscription() -> int:
    from functions.webhook_handler.subscription import run_ensure_subscription
    from shared.runtime import get_runtime

    summary = asyncio.run(run_ensure_subscription(get_runtime()))
    print(json.dumps(summary))
    return 0


def _invoke(function_name: str) -> int:
    from local.invoke import invoke_function

    summary: dict[str, Any] = asyncio.run(invoke_function(function_name))
    print(json.dumps(summary, default=str))
    return 0 if summary.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
