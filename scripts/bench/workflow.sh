#!/usr/bin/env bash
# Sharded embedding via the Snakemake workflow vs one process, and the overhead per shard: see workflow.py.
# Run through `make bench` or directly after `make build`; on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec .venv/bin/python scripts/bench/workflow.py --biotorch "${BIOTORCH:-$(scripts/target-dir.sh)/release/biotorch}" "$@"
