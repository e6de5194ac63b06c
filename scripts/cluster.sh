#!/usr/bin/env bash
# The reference topology on one machine: HAProxy (TLS) in front of N daphne workers, PostgreSQL,
# OpenBao, Redis. `scripts/cluster.sh up|status|restart|down [--help]` (see scripts/cluster.py).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python scripts/cluster.py "$@"
