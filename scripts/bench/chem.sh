#!/usr/bin/env bash
# `biotorch chem` against RDKit Python computing the same properties (issue 5): see chem.py. Run after `make build`.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec .venv/bin/python scripts/bench/chem.py --biotorch "${BIOTORCH:-$(scripts/target-dir.sh)/release/biotorch}" "$@"
