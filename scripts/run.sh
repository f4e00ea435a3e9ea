#!/usr/bin/env bash
# Set everything up (idempotent) and run the main job: a short Fashion-MNIST training on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/dcgan train --dataset fashion-mnist --epochs 1 "$@"
