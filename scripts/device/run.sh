#!/usr/bin/env bash
# biotorch's device check, the whole of it in one command (built by scripts/device-bundle.sh into dist/device/).
#
#   dist/device/run.sh [--device cuda|cpu] [check.py options: --only 2,5  --n 500  --shapes t12_35M  --verbose ...]
#
# Needs only python3 with torch (the version the binary was built against, 2.11), transformers, numpy and pyarrow:
# the GPU machine's image. PYTHON picks another interpreter. Unpacks payload.tar.xz (binary, RDKit/Boost libraries,
# models, test checkpoints and goldens) into BIOTORCH_BUNDLE (default: a folder under ${TMPDIR:-/tmp}), points
# LD_LIBRARY_PATH at that python's torch/lib, then runs check.py: each step under its own time limit, one summary
# table at the end, exit status 1 when a check failed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd -P)
PY=${PYTHON:-python3}
command -v "$PY" >/dev/null || { echo "run.sh: $PY not found (set PYTHON)" >&2; exit 2; }

# The image's torch first: everything else depends on it.
torchlib=$("$PY" -c 'import os, torch; print(torch.__version__, file=__import__("sys").stderr); print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/tmp/biotorch-torch-version.$$) || {
  echo "run.sh: $PY cannot import torch:" >&2; cat /tmp/biotorch-torch-version.$$ >&2; rm -f /tmp/biotorch-torch-version.$$; exit 2; }
echo "run.sh: $("$PY" -c 'import sys; print(sys.executable)'), torch $(cat /tmp/biotorch-torch-version.$$) ($torchlib)"
rm -f /tmp/biotorch-torch-version.$$

stamp=$(cksum < "$here/payload.tar.xz" | cut -d' ' -f1)
dest=${BIOTORCH_BUNDLE:-${TMPDIR:-/tmp}/biotorch-device-$stamp}
if [ "$(cat "$dest/.unpacked" 2>/dev/null)" != "$stamp" ]; then
  rm -rf "$dest"
  mkdir -p "$dest"
  t=$(date +%s)
  # Python's tarfile reads xz, so the image needs neither xz nor zstd.
  "$PY" -c 'import sys, tarfile; tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2])' "$here/payload.tar.xz" "$dest"
  echo "$stamp" > "$dest/.unpacked"
  echo "run.sh: unpacked into $dest ($(( $(date +%s) - t )) s)"
fi

export LD_LIBRARY_PATH="$dest/lib:$torchlib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# The bundled models (smiles-small, protein-small) come from the bundle, never from a source tree.
export BIOTORCH_MODELS_PATH="$dest/models"
export BIOTORCH_BUNDLE="$dest"
if missing=$(ldd "$dest/bin/biotorch" 2>&1 | grep 'not found'); then
  echo "run.sh: the binary's libraries are not all found:" >&2
  echo "$missing" >&2
  exit 2
fi
exec "$PY" "$here/check.py" "$@"
