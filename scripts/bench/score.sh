#!/usr/bin/env bash
# `biotorch score` against fair-esm's method and batched HF: see score.py. Run after `make build`.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec .venv/bin/python scripts/bench/score.py --biotorch "${BIOTORCH:-$(scripts/target-dir.sh)/release/biotorch}" "$@"
