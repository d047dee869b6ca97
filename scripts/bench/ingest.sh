#!/usr/bin/env bash
# Ingest: parsing, validation, tokenization, biotorch against Biopython + HF and RDKit Python (issue 2): see
# ingest.py. Run after `make build`.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec .venv/bin/python scripts/bench/ingest.py --biotorch "${BIOTORCH:-$(scripts/target-dir.sh)/release/biotorch}" "$@"
