"""``iii-steps``: run a folder of steps against an engine, or check it without connecting."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from .loader import load_steps
from .runner import run_steps

DEFAULT_ENGINE = "ws://127.0.0.1:49134"
T = TypeVar("T")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="iii-steps", description="Run Python steps on an iii engine.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="serve the steps of a folder until interrupted")
    run.add_argument("folder", type=Path, help="folder with *_step.py / *.step.py files")
    run.add_argument(
        "--engine",
        default=os.environ.get("III_URL", DEFAULT_ENGINE),
        help=f"engine worker URL (default: $III_URL or {DEFAULT_ENGINE})",
    )
    run.add_argument("--name", help="worker name shown in engine::workers::list")
    check = commands.add_parser(
        "check", help="load and validate the steps of a folder, print their functions"
    )
    check.add_argument("folder", type=Path)
    for command in (run, check):
        command.add_argument("--log-level", default=os.environ.get("III_STEPS_LOG_LEVEL", "INFO"))
    return parser


def _check(folder: Path) -> int:
    result = load_steps(folder)
    for step in result.steps:
        for trigger in step.triggers:
            print(f"{step.function_id(trigger)}\t{trigger.type}\t{json.dumps(trigger.config)}")
    for error in result.errors:
        print(f"error: {error}", file=sys.stderr)
    return 1 if result.errors else 0


def run_event_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` on uvloop when it is installed (``pip install iii-steps[uvloop]``), else asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.command == "check":
        return _check(args.folder)
    result = run_event_loop(run_steps(args.folder, args.engine, name=args.name))
    return 0 if result.steps or not result.errors else 1


if __name__ == "__main__":
    sys.exit(main())
