#!/usr/bin/env bash
# GPU check: run on a machine with NVIDIA GPU(s), from a checkout of biotorch, whenever one is available.
#
#   scripts/gpu-check.sh [--n 2000] [--skip-setup]
#
# Sets up and builds as `make build` does (the project's venv with PyPI torch 2.13.0, which carries CUDA), writes
# the test fixtures, then scripts/gpu_check.py:
#   1. parity on CUDA against the HF transformers goldens of tests/cli_embed.rs (fp32: 1e-4; bf16: cosine >= 0.995
#      per vector, tolerances printed with the figures),
#   2. several GPUs in one process (`--device cuda:all` against `cuda:0`: identical rows; skipped with one GPU),
#   3. embed throughput (residues/s) on a t12_35M-shaped checkpoint, fp32 and bf16, against HF EsmModel on the same
#      GPU, and sampling (generate) and training steps on CUDA.
# Exits non-zero when a check fails. Paste its output into docs/benchmarks.md (GPU section) with the date.
#
# This needs the project's toolchain (Rust, the .venv with torch 2.13) on the GPU machine. For a machine with only
# PyTorch 2.11 in its own python3 and no Rust or network (the one this project is lent at times), carry the bundle
# of scripts/device-bundle.sh instead (make device-bundle, then dist/device/run.sh there; make device-proof checks
# it here on the CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "gpu-check: no NVIDIA GPU visible (nvidia-smi -L fails); run this on a GPU machine" >&2
    exit 2
fi
nvidia-smi -L
if [[ " $* " != *" --skip-setup "* ]]; then
    make --no-print-directory build fixtures
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$(scripts/target-dir.sh)}"
# The GPU-only tests (a real out-of-memory on the device splits an embed batch).
LIBTORCH_USE_PYTORCH=1 PATH="$PWD/.venv/bin:$PATH" cargo test --release --locked -p biotorch-models --features cuda-tests --test cuda_memory
args=()
for a in "$@"; do [[ "$a" == --skip-setup ]] || args+=("$a"); done
exec .venv/bin/python scripts/gpu_check.py --biotorch "$CARGO_TARGET_DIR/release/biotorch" "${args[@]}"
