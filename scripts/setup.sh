#!/usr/bin/env bash
# Sets up everything biotorch needs on a fresh Debian machine with Rust and Python 3:
#   1. Debian's RDKit C++ library (librdkit-dev), installed with apt when missing (needs root);
#   2. a project-local .venv with torch 2.13.0 (libtorch for tch 0.26) and the pinned test oracles.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1msetup:\033[0m %s\n' "$*" >&2; }

command -v cargo >/dev/null || { say "cargo not found: install Rust (https://rustup.rs) first"; exit 1; }
command -v python3 >/dev/null || { say "python3 not found: install Python 3.10+ first"; exit 1; }

# 1. RDKit (C++), from Debian. Its headers include Boost's, which librdkit-dev does not pull in.
if [ ! -f "${RDKIT_INCLUDE_DIR:-/usr/include/rdkit}/GraphMol/GraphMol.h" ] || [ ! -f "${BOOST_INCLUDE_DIR:-/usr/include}/boost/version.hpp" ]; then
  if [ "$(id -u)" = 0 ]; then
    say "installing librdkit-dev and libboost-dev (RDKit C++ headers and libraries) with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq librdkit-dev libboost-dev >/dev/null
  else
    say "RDKit's C++ library is missing. Install it as root, then run this again:"
    say "    sudo apt-get install -y librdkit-dev libboost-dev"
    exit 1
  fi
fi

# 2. Python: libtorch and the oracles, pinned in scripts/requirements.txt.
stamp=.venv/.biotorch-requirements
want=$(sha256sum scripts/requirements.txt | cut -d' ' -f1)
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  python3 -m venv .venv
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing pinned Python packages into .venv (torch 2.13.0 is a ~4.7 GB download the first time)"
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -r scripts/requirements.txt
  echo "$want" > "$stamp"
fi
say "ok: RDKit $(dpkg-query -W -f='${Version}' librdkit-dev 2>/dev/null || echo '(custom)'), $(.venv/bin/python -c 'import torch; print("torch", torch.__version__)')"
