#!/usr/bin/env bash
# Ingest benchmark (issue 2): see ingest.py. Run through `make bench` or directly after `make build`.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec .venv/bin/python scripts/bench/ingest.py --biotorch "${BIOTORCH:-$(scripts/target-dir.sh)/release/biotorch}" "$@"
