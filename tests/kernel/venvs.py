"""Fresh virtual environments with ``iii-core`` (and other local distributions) installed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import EngineProcess, free_port, wait_for_port

CORE_DIR = Path(__file__).resolve().parents[2] / "core"
INSTALL_TIMEOUT_S = 300


def create_venv(where: Path, *distributions: Path) -> Path:
    """A new virtualenv (no system site-packages) with ``iii-core`` plus ``distributions``."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, timeout=60)
    subprocess.run(
        [
            str(where / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            str(CORE_DIR),
            *map(str, distributions),
        ],
        check=True,
        timeout=INSTALL_TIMEOUT_S,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    return where


def run_iii(venv: Path, *args: str, cwd: Path, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
    """Run ``iii`` of ``venv`` to completion (for commands that exit by themselves)."""
    return subprocess.run(
        [str(venv / "bin" / "iii"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_iii(venv: Path, config: str, workdir: Path, *args: str) -> EngineProcess:
    """Start ``iii`` of ``venv`` on ``config`` written to ``workdir/config.yaml`` (``{ENGINE_PORT}``
    replaced), with ``args`` (default ``-c config.yaml``); stop it with ``.stop()``."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "config.yaml"
    config_path.write_text(config.replace("{ENGINE_PORT}", str(port)))
    log_path = workdir / "engine.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(venv / "bin" / "iii"), *(args or ("-c", str(config_path)))],
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    engine = EngineProcess(process, workdir, log_path, {"ENGINE_PORT": port})
    try:
        wait_for_port(port, process=process)
    except Exception:
        engine.stop()
        raise RuntimeError(f"engine did not start:\n{engine.log()}") from None
    return engine
