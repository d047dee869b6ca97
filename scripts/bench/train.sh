#!/usr/bin/env bash
# Training throughput, biotorch against PyTorch + HF, on the three bundled configurations (issue 4): see
# train_configs.py. Run after `make build`.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec .venv/bin/python scripts/bench/train_configs.py --biotorch "${BIOTORCH:-$(scripts/target-dir.sh)/release/biotorch}" "$@"
