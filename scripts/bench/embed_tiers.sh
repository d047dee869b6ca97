#!/usr/bin/env bash
# `biotorch embed` per precision tier (f32, bf16, int8) against HF at the same precision, and esm.cpp: see
# embed_tiers.py. Run after `make build`; BIOTORCH=PATH picks another binary.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec .venv/bin/python scripts/bench/embed_tiers.py --biotorch "${BIOTORCH:-$(scripts/target-dir.sh)/release/biotorch}" "$@"
