#!/usr/bin/env bash
# Set up and run the engine with the default module set and embedded (in-memory) storage.
# Extra arguments go to `iii` (e.g. `-c config.yaml`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ $# -eq 0 ]; then set -- --use-default-config; fi
exec .venv/bin/iii "$@"
