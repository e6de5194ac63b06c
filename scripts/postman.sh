#!/usr/bin/env bash
# Run the upstream Postman suites against a fresh rps-django (see scripts/run_postman.py for options).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python scripts/run_postman.py "$@"
