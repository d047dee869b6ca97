#!/usr/bin/env bash
# Proof, without a GPU, that dist/device/ needs nothing of the build machine: runs `run.sh --device cpu` (every
# check that needs no CUDA) the way the GPU machine runs it.
#
#   scripts/device-proof.sh [check.py options]      (make device-proof builds the bundle first)
#
# - a copy of the bundle in a fresh folder, unpacked there;
# - an empty environment: PATH is the torch 2.11 venv (scripts/device/requirements-image.txt, the image's packages)
#   and /usr/bin:/bin, so no cargo, no rustc and no project .venv; HOME is empty (no HF cache);
# - the source copy the binary was built from (its bundled-models fallback points there) moved aside for the run.
# Exits with run.sh's status.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\033[1mdevice-proof:\033[0m %s\n' "$*" >&2; }
VENV=${BIOTORCH_TORCH211_VENV:-$HOME/.cache/biotorch/venv-torch211}
[ -f dist/device/run.sh ] || { say "no dist/device: run scripts/device-bundle.sh (make device-bundle) first"; exit 2; }
[ -x "$VENV/bin/python" ] || { say "no venv at $VENV: scripts/device-bundle.sh makes it"; exit 2; }

work=$(mktemp -d)
src=$(scripts/target-dir.sh)/torch211/src
cleanup() {
  [ -d "$src.hidden" ] && mv "$src.hidden" "$src"
  rm -rf "$work"
}
trap cleanup EXIT
if [ -d "$src" ]; then mv "$src" "$src.hidden"; fi
cp -r dist/device "$work/device"
mkdir -p "$work/home" "$work/tmp"
if env -i PATH="$VENV/bin:/usr/bin:/bin" sh -c 'command -v cargo || command -v rustc'; then
  say "cargo or rustc is on the proof's PATH: it would not prove anything"; exit 2
fi
say "running $work/device/run.sh --device cpu with PATH=$VENV/bin:/usr/bin:/bin, HOME=$work/home"
env -i PATH="$VENV/bin:/usr/bin:/bin" HOME="$work/home" TMPDIR="$work/tmp" LANG=C.UTF-8 \
  "$work/device/run.sh" --device cpu "$@"
