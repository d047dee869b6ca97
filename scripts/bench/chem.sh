#!/usr/bin/env bash
# Molecule property benchmark (issue 5): see chem.py. Run through `make bench` or directly after `make build`.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec .venv/bin/python scripts/bench/chem.py --biotorch "${BIOTORCH:-$(scripts/target-dir.sh)/release/biotorch}" "$@"
