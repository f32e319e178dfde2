"""The upstream iii-sdk 0.9.0 Python integration suite, run unmodified against this engine."""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT.parent / "shared" / "conformance" / "upstream-python.sh"
EXPECTED = Path(__file__).with_name("expected-passing.txt")
ROW = re.compile(r"^(test_\S+\.py)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$")


def expected_files() -> list[str]:
    lines = (line.strip() for line in EXPECTED.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


@pytest.mark.timeout(1200)
@pytest.mark.skipif(not SCRIPT.exists(), reason="../shared/conformance is not beside this checkout")
def test_expected_upstream_files_pass(tmp_path: Path) -> None:
    files = expected_files()
    engine_cmd = f"{Path(sys.executable).parent / 'iii'} --config {{config}}"
    # One run at a time on this machine: the suite needs the fixed ports 49199 and 3199.
    with open("/tmp/iii-conformance.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = subprocess.run(
            ["bash", str(SCRIPT), "--engine-cmd", engine_cmd, "--", *[f"tests/{name}" for name in files]],
            capture_output=True,
            text=True,
            timeout=1100,
            env={**os.environ, "III_CONFORMANCE_TIMEOUT": "60"},
        )
    (tmp_path / "upstream.log").write_text(result.stdout + result.stderr)
    rows = {
        m.group(1): tuple(map(int, m.groups()[1:])) for m in map(ROW.match, result.stdout.splitlines()) if m
    }
    problems = []
    for name in files:
        passed, failed, errors, _skipped = rows.get(name, (0, 0, 0, 0))
        if name not in rows or failed or errors or not passed:
            problems.append(f"{name}: passed={passed} failed={failed} errors={errors}")
    assert not problems, "upstream files regressed:\n" + "\n".join(problems) + "\n\n" + result.stdout[-6000:]
