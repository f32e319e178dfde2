"""The ``iii`` command: run the engine, print its version, list installed modules."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from . import REFERENCE_VERSION, __version__
from .config import EngineConfig, default_config, load_config
from .engine import Engine
from .errors import StartupError
from .logs import configure_logging, get_logger
from .plugins import ADAPTER_GROUP, DEFAULT_MODULES, MODULE_GROUP, installed, installed_names

OBSERVABILITY_CLASS = "modules::observability::OtelModule"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="iii", description="The iii engine (Python).")
    parser.add_argument(
        "-c", "--config", metavar="PATH", help="config file (default: ./config.yaml when present)"
    )
    parser.add_argument(
        "--use-default-config", action="store_true", help="run the default module set, no file"
    )
    parser.add_argument(
        "-v",
        "--version",
        action="version",
        version=REFERENCE_VERSION,
        help="print the protocol version and exit",
    )
    parser.add_argument(
        "command",
        nargs="?",
        choices=["run", "modules"],
        default="run",
        help="run (default) or modules: list installed modules and adapters",
    )
    return parser


def list_modules() -> None:
    rows = installed(MODULE_GROUP) + installed(ADAPTER_GROUP)
    width = max((len(r.name) for r in rows), default=10)
    print(f"{'CLASS'.ljust(width)}  KIND     DISTRIBUTION")
    for row in rows:
        kind = "module " if row.group == MODULE_GROUP else "adapter"
        print(f"{row.name.ljust(width)}  {kind}  {row.distribution} {row.version}")


def choose_config(args: argparse.Namespace) -> tuple[EngineConfig, str]:
    """The config to run and a sentence saying why it was chosen."""
    if args.config:
        return load_config(args.config), f"config file {args.config}"
    if not args.use_default_config and Path("config.yaml").exists():
        return load_config("config.yaml"), "config file ./config.yaml"
    available = installed_names(MODULE_GROUP)
    chosen = [name for name in DEFAULT_MODULES if name in available]
    reason = "--use-default-config" if args.use_default_config else "no ./config.yaml"
    return default_config(chosen), f"default module set ({reason}): {', '.join(chosen) or 'none installed'}"


def configure_from(config: EngineConfig) -> None:
    """Logging comes from the observability module's entry, even when it is disabled."""
    view = config.module_config(OBSERVABILITY_CLASS)
    level, fmt = "info", "default"
    if view is not None:
        level = str(view.raw("level") or view.raw("log_level") or "info")
        fmt = str(view.raw("format") or "default")
    try:
        configure_logging(level, fmt)
    except ValueError as exc:
        raise StartupError(f"{config.source}: {OBSERVABILITY_CLASS}: {exc}") from None


async def serve(config: EngineConfig) -> None:
    engine = Engine(config)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, engine.request_stop)
    try:
        await engine.start()
        await engine.wait_stopped()
    finally:
        await engine.stop()


def run_event_loop(main_coroutine: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop when it is installed (a faster event loop), else on asyncio's own."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main_coroutine)
    else:
        uvloop.run(main_coroutine)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.use_default_config and args.config:
        parser.error("the argument '--use-default-config' cannot be used with '--config <PATH>'")
    if args.command == "modules":
        list_modules()
        return 0
    try:
        config, reason = choose_config(args)
        configure_from(config)
        log = get_logger("iii::engine")
        log.info(f"iii engine {__version__} (protocol {REFERENCE_VERSION}) using {reason}")
        for warning in config.warnings:
            log.warning(warning)
        run_event_loop(serve(config))
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
