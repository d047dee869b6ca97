#!/usr/bin/env bash
# Time per step of head-guided optimize on CPU, by the protocol (issue 19, item 7): see design_step_time.py. Needs
# the head of scripts/bench/design_evidence.sh (or --head DIR) and an idle machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec .venv/bin/python scripts/bench/design_step_time.py --biotorch "${BIOTORCH:-$(scripts/target-dir.sh)/release/biotorch}" "$@"
