#!/usr/bin/env bash
# Set everything up (idempotent) and run the main job: the live dashboard on http://127.0.0.1:8000
# (start a Fashion-MNIST training from the page). Extra arguments go to `dcgan serve` (e.g. --port 8080).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/dcgan serve "$@"
