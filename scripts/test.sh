#!/usr/bin/env bash
# Set up and run every test: services, install, lint, the project's suite (which includes the
# upstream iii-sdk 0.9.0 conformance files listed in tests/conformance/expected-passing.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-services.sh
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
