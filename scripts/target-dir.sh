#!/usr/bin/env sh
# Prints the cargo build directory of this checkout: $CARGO_TARGET_DIR when set, else one directory per checkout
# path under ~/.cache/biotorch. Build artifacts embed the checkout's absolute paths (test data, the bundled models
# folder, the rpath to .venv's libtorch), and cargo does not rebuild them when the same sources appear at another
# path, so two checkouts must not share a build directory. Re-runs in the same checkout reuse theirs.
if [ -n "${CARGO_TARGET_DIR:-}" ]; then
    echo "$CARGO_TARGET_DIR"
    exit 0
fi
root=$(cd "$(dirname "$0")/.." && pwd -P)
echo "${HOME}/.cache/biotorch/target-$(printf '%s' "$root" | sha256sum | cut -c1-12)"
