#!/usr/bin/env bash
# `biotorch generate` against HF generate() with its KV cache: see sample.py. Run after `make build`.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec .venv/bin/python scripts/bench/sample.py --biotorch "${BIOTORCH:-$(scripts/target-dir.sh)/release/biotorch}" "$@"
