#!/usr/bin/env bash
# Builds dist/device/: everything the lent GPU machine needs to run biotorch's CUDA checks with one command.
#
#   scripts/device-bundle.sh [--out DIR]   build the bundle (default dist/device)
#   scripts/device-bundle.sh --check       only compile-check the workspace against torch 2.11 (make test runs it)
#
# That machine has no Rust and no network, runs its image's python3 with PyTorch 2.11 (cu130), and takes at most
# 64 MiB per call, the repository's working tree included. The project builds with tch 0.26 against torch 2.13, which
# cannot travel; tch 0.26 does not build against torch 2.11, tch 0.24 does. The workspace asks for tch >=0.24, <0.27,
# Cargo.lock pins 0.26, and this script builds a copy of the tracked sources with a second lock derived from
# Cargo.lock (`cargo update -p tch --precise 0.24.0`: tch and torch-sys move, nothing else), in a second venv with
# torch 2.11.0 (scripts/device/requirements-image.txt, the image's versions).
#
# The bundle: run.sh (the whole check, scripts/device/run.sh), check.py (scripts/device/check.py) and payload.tar.xz:
# the stripped binary (rpath $ORIGIN/../lib, nothing of this machine), the RDKit and Boost shared libraries it links
# (Debian's; the image has none), the bundled models generate and finetune use, the `small` test checkpoint with the
# HF 4.57.1 goldens computed on it (make fixtures), and the demo data. run.sh finds libtorch through the image's
# python3 (LD_LIBRARY_PATH=<torch>/lib). Larger checkpoints are written on the device by the image's transformers.
#
# Environment: BIOTORCH_TORCH211_VENV (default ~/.cache/biotorch/venv-torch211), CARGO_TARGET_DIR (see
# scripts/target-dir.sh; the 2.11 build uses <it>/torch211/, its own folder, since its binary has the same name).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd -P)
say() { printf '\033[1mdevice-bundle:\033[0m %s\n' "$*" >&2; }

MODE=bundle
OUT=dist/device
while [ $# -gt 0 ]; do
  case "$1" in
    --check) MODE=check ;;
    --out) OUT=$2; shift ;;
    *) say "unknown argument $1"; exit 2 ;;
  esac
  shift
done

# The ceiling of what travels with one call to the device machine, and the bundle's share of it (the rest is the
# working tree, which always travels).
CARRY_LIMIT=$((64 * 1024 * 1024))
BUNDLE_LIMIT=$((60 * 1024 * 1024))
TCH_OLD=0.24.0
TORCH_OLD=2.11.0

VENV=${BIOTORCH_TORCH211_VENV:-$HOME/.cache/biotorch/venv-torch211}
TD=$(scripts/target-dir.sh)

# 1. The torch 2.11 venv: the image's torch, transformers, numpy and pyarrow, for the build (libtorch headers and
#    libraries) and for the CPU proof (make device-proof).
reqs=scripts/device/requirements-image.txt
want=$(sha256sum "$reqs" | cut -d' ' -f1)
if [ "$(cat "$VENV/.biotorch-requirements" 2>/dev/null)" != "$want" ]; then
  say "installing $reqs into $VENV (torch $TORCH_OLD with its CUDA libraries: a few GB the first time)"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$reqs"
  echo "$want" > "$VENV/.biotorch-requirements"
fi
have=$("$VENV/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])')
[ "$have" = "$TORCH_OLD" ] || { say "$VENV has torch $have, expected $TORCH_OLD"; exit 1; }

# 2. A copy of the tracked (and untracked, not ignored) sources with the second lock. Copied with their times, so
#    cargo rebuilds only what changed since the last run.
B=$TD/torch211
SRC=$B/src
mkdir -p "$SRC"
say "copying the sources to $SRC"
git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C "$SRC"
# Files gone from the tree go from the copy too: cargo compiles every tests/*.rs, benches/*.rs and examples/*.rs it
# finds, so a stale one would be checked (or fail) although it no longer exists here.
comm -13 <(git ls-files -co --exclude-standard | sort) <(cd "$SRC" && find . -type f ! -path './target/*' | sed 's|^\./||' | sort) \
  | (cd "$SRC" && xargs -r -d '\n' rm -f --)
cd "$SRC"
# The lock: Cargo.lock with tch and torch-sys at 0.24 (cargo update moves torch-sys with tch). Offline first: the
# registry has them after the first run.
cargo update -q --offline -p tch --precise "$TCH_OLD" 2>/dev/null || cargo update -q -p tch --precise "$TCH_OLD"
grep -A1 '^name = "torch-sys"$' Cargo.lock | grep -q "version = \"$TCH_OLD\"" || { say "torch-sys did not move to $TCH_OLD"; exit 1; }

export LIBTORCH_USE_PYTORCH=1
export PATH="$VENV/bin:$PATH"
unset LIBTORCH LIBTORCH_LIB LIBTORCH_INCLUDE

if [ "$MODE" = check ]; then
  # make test: type-check every target against torch 2.11 in the main build folder, where clippy already left the
  # dependencies' check artifacts (same features: --workspace --all-targets), so only torch-sys, tch and the
  # workspace crates are compiled again (the copy's crates have their own paths, so nothing of the main build moves).
  say "cargo check --workspace --all-targets with tch $TCH_OLD against torch $TORCH_OLD"
  t=$(date +%s)
  CARGO_TARGET_DIR=$TD cargo check --release --locked --workspace --all-targets
  say "ok: the workspace compiles against torch $TORCH_OLD ($(( $(date +%s) - t )) s)"
  exit 0
fi

say "cargo build --release -p biotorch with tch $TCH_OLD against torch $TORCH_OLD (target $B/target)"
t=$(date +%s)
CARGO_TARGET_DIR=$B/target cargo build --release --locked -p biotorch
say "built in $(( $(date +%s) - t )) s"
cd "$ROOT"

# 3. The payload.
command -v patchelf >/dev/null || {
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq patchelf >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq patchelf >/dev/null; }
  else say "patchelf is missing: sudo apt-get install -y patchelf"; exit 1; fi
}
for f in .fixtures/esm_checkpoints/models/small/config.json .fixtures/esm_embed_golden/golden.json; do
  [ -f "$f" ] || { say "missing $f: run make fixtures first"; exit 1; }
done
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
P=$STAGE/payload
mkdir -p "$P"/{bin,lib,models,fixtures,data}
bin=$B/target/release/biotorch
cp "$bin" "$P/bin/biotorch"
strip "$P/bin/biotorch"
# No path of this machine: the bundled libraries next to it, libtorch from LD_LIBRARY_PATH (run.sh).
patchelf --set-rpath '$ORIGIN/../lib' "$P/bin/biotorch"
# libtorch_cuda.so: torch-sys asks for it, but no symbol of it is used, so the linker's --as-needed drops it, and
# without it loaded libtorch sees no GPU (tch-rs issue 980; `readelf -d` of the normal build lists only
# libtorch_cpu.so and libc10.so). Its static initialisers register the CUDA backend, so it must be a NEEDED entry.
torchlib=$("$VENV/bin/python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
[ -f "$torchlib/libtorch_cuda.so" ] || { say "$torchlib has no libtorch_cuda.so: a CPU-only torch in $VENV?"; exit 1; }
patchelf --add-needed libtorch_cuda.so "$P/bin/biotorch"
readelf -d "$P/bin/biotorch" | grep -q 'NEEDED.*libtorch_cuda.so' || { say "libtorch_cuda.so is not NEEDED by the binary"; exit 1; }
# The shared libraries the binary needs beyond glibc, the C++ runtime and libtorch: Debian's RDKit and Boost.
LD_LIBRARY_PATH=$torchlib ldd "$bin" | awk '$2 == "=>" {print $1, $3}' | while read -r name path; do
  case "$name" in
    linux-vdso*|ld-linux*|libc.so*|libm.so*|libdl.so*|librt.so*|libpthread.so*|libutil.so*|libstdc++.so*|libgcc_s.so*) ;;
    *) case "$path" in "$torchlib"/*) ;; not) say "unresolved library $name"; exit 1 ;; *) cp -L "$path" "$P/lib/$name" ;; esac ;;
  esac
done
for m in smiles-small protein-small; do
  mkdir -p "$P/models/$m"
  # The model and its tokenizer; not the training record (loss.png, metrics.parquet, README.md, checkpoint/).
  find "data/models/$m" -maxdepth 1 -type f ! -name loss.png ! -name metrics.parquet ! -name README.md -exec cp {} "$P/models/$m/" \;
done
cp -r .fixtures/esm_checkpoints/models/small "$P/fixtures/small"
cp .fixtures/esm_embed_golden/long.fasta "$P/fixtures/"
python3 - "$P/fixtures/golden_small.json" <<'EOF'
import json, sys
g = json.load(open(".fixtures/esm_embed_golden/golden.json"))
json.dump({k: g[k] for k in ("per_token", "window")}, open(sys.argv[1], "w"))
EOF
cp data/demo/swissprot_100.fasta data/demo/ecoli_proteins_500.faa data/demo/chembl_2000.csv data/tasks/amp_vs_uniprot_5200.csv "$P/data/"
cp data/train/ecoli_k12_proteins_dedup.faa "$P/data/ecoli_proteome.faa"
# The newest glibc and libstdc++ symbol versions the binary and the bundled libraries ask for (the image must have them).
needs=$(objdump -T "$P/bin/biotorch" "$P"/lib/* | grep -oE 'GLIBC(XX)?_[0-9.]+' | sort -Vu | awk -F_ '{m[$1]=$0} END {print m["GLIBC"], m["GLIBCXX"]}')
say "needs $needs"
"$VENV/bin/python" - "$P/BUILD_INFO.json" "$TCH_OLD" "$needs" <<EOF
import json, subprocess, sys, datetime, torch
git = lambda *a: subprocess.run(["git", *a], capture_output=True, text=True).stdout.strip()
json.dump({"commit": git("rev-parse", "HEAD") + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else ""),
           "built": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "tch": sys.argv[2], "torch": torch.__version__, "needs": sys.argv[3],
           "rustc": subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()},
          open(sys.argv[1], "w"), indent=1)
EOF

rm -rf "$OUT"
mkdir -p "$OUT"
say "compressing the payload (xz)"
tar -C "$P" -cf - . | xz -T2 -6 > "$OUT/payload.tar.xz"
cp scripts/device/run.sh scripts/device/check.py "$OUT/"
chmod +x "$OUT/run.sh"

size=$(du -cb "$OUT" | tail -1 | cut -f1)
tree=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
say "$OUT: $((size / 1024)) KiB (limit $((BUNDLE_LIMIT / 1024)) KiB); with the tracked tree ($((tree / 1024)) KiB), $(((size + tree) / 1024)) KiB of the $((CARRY_LIMIT / 1024)) KiB a call carries"
[ "$size" -le "$BUNDLE_LIMIT" ] || { say "the bundle is over its limit"; exit 1; }
[ $((size + tree)) -le "$CARRY_LIMIT" ] || { say "the bundle and the working tree are over what one call carries"; exit 1; }
say "ok. On the device machine: dist/device/run.sh (carry dist/device); here: make device-proof"
