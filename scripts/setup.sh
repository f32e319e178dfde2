#!/usr/bin/env bash
# Create .venv (if needed) and install every workspace member in editable mode plus test tools.
# Skipped when nothing that decides the installation (requirements, pyproject files) changed
# since the last successful run: editable installs pick up source edits by themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
STAMP=.venv/.installed
want=$(cat requirements-dev.txt $(git ls-files '*pyproject.toml' 2>/dev/null || find . -name pyproject.toml -not -path './.venv/*') | sha256sum | cut -d' ' -f1)
if [ -x .venv/bin/iii ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements-dev.txt
echo "$want" > "$STAMP"
