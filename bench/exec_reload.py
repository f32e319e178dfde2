"""Hot-reload latency of ExecModule: watched file written -> new answer served over HTTP.

The app is the exec tests' sample worker (``tests/exec/app``: an iii-sdk worker behind
``GET /exec-app/answer``). Two engines run side by side, with alternating rounds:

* reload: ExecModule runs the app with ``watch: [app/*.py]``; each round rewrites ``answer.py``
  and polls the route until the new answer comes back;
* baseline: an engine with only the REST API; each round starts the same app directly (a cold
  start: interpreter, iii-sdk import, connect, register) and polls until it answers, then kills
  it. This is the floor a reload cannot beat, so ``reload - baseline`` is what the module adds
  (change detection, debounce, SIGTERM of the old process group, pipeline restart).

Target: reload p50 <= 1 s. Writes ``bench/results/exec.md``. Loopback only, bounded rounds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import EngineProcess, start_engine  # noqa: E402
from tests.exec.conftest import APP_SOURCE, app_command, app_config, get_answer, write_answer  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "exec.md"
TARGET_S = 1.0
POLL_S = 0.01
ROUND_TIMEOUT_S = 15.0
SETTLE_S = 0.3
API_ONLY = (
    "port: {ENGINE_PORT}\nmodules:\n"
    "  - class: modules::api::RestApiModule\n    config: {host: 127.0.0.1, port: {HTTP_PORT}}\n"
)
Round = Callable[[EngineProcess, Path, str], float]


def until_answer(engine: EngineProcess, expected: str, started: float) -> float:
    """Seconds from ``started`` until the route answers ``expected``."""
    while time.monotonic() - started < ROUND_TIMEOUT_S:
        try:
            if get_answer(engine)["answer"] == expected:
                return time.monotonic() - started
        except OSError:
            pass
        time.sleep(POLL_S)
    raise TimeoutError(f"no answer {expected!r} within {ROUND_TIMEOUT_S} s")


def reload_round(engine: EngineProcess, app: Path, answer: str) -> float:
    started = time.monotonic()
    write_answer(app, answer)
    return until_answer(engine, answer, started)


def cold_start_round(engine: EngineProcess, app: Path, answer: str) -> float:
    write_answer(app, answer)
    command = app_command(app).replace("{ENGINE_PORT}", str(engine.port))
    started = time.monotonic()
    process = subprocess.Popen(command, shell=True, process_group=0, stdout=subprocess.DEVNULL)
    try:
        return until_answer(engine, answer, started)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def summary(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    figures = (statistics.median(ms), percentile(ms, 0.9), min(ms), max(ms))
    return f"| {name} | " + " | ".join(f"{figure:.0f}" for figure in figures) + " |"


def run(rounds: int, workdir: Path) -> str:
    reload_app, baseline_app = workdir / "reload-app", workdir / "baseline-app"
    for app in (reload_app, baseline_app):
        shutil.copytree(APP_SOURCE, app, ignore=shutil.ignore_patterns("__pycache__"))
    wait_http = ("ENGINE_PORT", "HTTP_PORT")
    exec_engine = start_engine(app_config(reload_app), workdir / "exec-engine", wait_ports=wait_http)
    api_engine = start_engine(API_ONLY, workdir / "api-engine", wait_ports=wait_http)
    reloads: list[float] = []
    cold_starts: list[float] = []
    try:
        until_answer(exec_engine, "one", time.monotonic())
        measures: list[tuple[list[float], Round, EngineProcess, Path]] = [
            (reloads, reload_round, exec_engine, reload_app),
            (cold_starts, cold_start_round, api_engine, baseline_app),
        ]
        for index in range(rounds):
            for values, measure, engine, app in measures:
                time.sleep(SETTLE_S)
                values.append(measure(engine, app, f"edit-{index}"))
                print(f"round {index + 1}: {measure.__name__} {values[-1] * 1000:.0f} ms", flush=True)
    finally:
        exec_engine.stop()
        api_engine.stop()
    reload_p50, cold_p50 = statistics.median(reloads), statistics.median(cold_starts)
    verdict = "met" if reload_p50 <= TARGET_S else "missed"
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    added_ms = (reload_p50 - cold_p50) * 1000
    return "\n".join(
        [
            "# Exec module: hot-reload latency",
            "",
            f"`python bench/exec_reload.py --rounds {rounds}` on {when}, {os.cpu_count()} CPUs "
            "(shared machine). Clock: `answer.py` written -> `GET /exec-app/answer` returns the new "
            "answer (polled every 10 ms). The app is an iii-sdk Python worker; rounds alternate "
            "between the two measures.",
            "",
            "| measure | p50 ms | p90 ms | min ms | max ms |",
            "|---|---|---|---|---|",
            summary(f"reload through ExecModule ({rounds} edits)", reloads),
            summary(f"baseline: cold start of the same app ({rounds} starts)", cold_starts),
            "",
            f"- Reload p50 {reload_p50 * 1000:.0f} ms, target {TARGET_S * 1000:.0f} ms: **{verdict}**.",
            f"- Reload / cold start (p50): {reload_p50 / cold_p50:.2f}x. What the module adds "
            f"(change detection, debounce, SIGTERM of the old group, pipeline restart): {added_ms:.0f} ms.",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="edits (and cold starts) to measure")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="iii-exec-bench-") as workdir:
        report = run(args.rounds, Path(workdir))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
