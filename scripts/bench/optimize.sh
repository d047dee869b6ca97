#!/usr/bin/env bash
# Optimisation benchmark (issue 5): see optimize.py. Run through `make bench` or directly after `make build`.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec .venv/bin/python scripts/bench/optimize.py --biotorch "${BIOTORCH:-$(scripts/target-dir.sh)/release/biotorch}" "$@"
