#!/usr/bin/env bash
# Compile the lock files from the direct dependencies: requirements.in -> requirements.txt,
# requirements-dev.in -> requirements-dev.txt and bench/requirements.in -> bench/requirements.txt,
# every package pinned with its hashes (pip-tools, installed into .venv by requirements-dev.txt).
# Run after changing a .in file; `./rps` then installs the new lock with `pip install --require-hashes`.
set -euo pipefail
cd "$(dirname "$0")/.."
for name in requirements requirements-dev bench/requirements; do
  .venv/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
    --no-emit-index-url --no-emit-find-links --output-file "$name.txt" "$name.in"
done
