#!/usr/bin/env bash
# Thread defaults on a shared machine: see shared_machine.py. Run through `make bench` or directly after `make build`.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec .venv/bin/python scripts/bench/shared_machine.py --biotorch "${BIOTORCH:-$(scripts/target-dir.sh)/release/biotorch}" "$@"
