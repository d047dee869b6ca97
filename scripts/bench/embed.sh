#!/usr/bin/env bash
# Embedding benchmark: see embed.py. Run through `make bench` or directly after `make build`.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec .venv/bin/python scripts/bench/embed.py --biotorch "${BIOTORCH:-$(scripts/target-dir.sh)/release/biotorch}" "$@"
