#!/usr/bin/env bash
# Head-guided design on solubility (issue 19, item 7): see design_evidence.py. Run directly after `make build`.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec .venv/bin/python scripts/bench/design_evidence.py --biotorch "${BIOTORCH:-$(scripts/target-dir.sh)/release/biotorch}" "$@"
