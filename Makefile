# biotorch: `make demo` and `make test` are all a newcomer needs. Both set everything up first and are idempotent.
SHELL := /bin/bash
ROOT := $(abspath .)
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python

# Build artifacts live outside the clone, one directory per checkout path (scripts/target-dir.sh): artifacts embed
# the checkout's paths, which cargo does not track, so checkouts never share one. Set CARGO_TARGET_DIR to override.
export CARGO_TARGET_DIR ?= $(shell $(ROOT)/scripts/target-dir.sh)
# tch finds libtorch in the venv's PyPI torch; binaries get an rpath to it (see crates/models/build.rs).
export LIBTORCH_USE_PYTORCH := 1
export PATH := $(VENV)/bin:$(PATH)
CARGO ?= cargo
CARGO_FLAGS := --release --locked
BIN := $(CARGO_TARGET_DIR)/release/biotorch
ORACLES := $(wildcard scripts/oracle/*.py)
FIXTURES := $(patsubst scripts/oracle/%.py,.fixtures/%/.done,$(ORACLES))

.PHONY: all setup build fixtures test check-torch211 device-bundle device-proof demo install bench clean

all: build

setup:
	@scripts/setup.sh

build: setup
	$(CARGO) build $(CARGO_FLAGS) -p biotorch
	@echo "built $(BIN)"

# Golden outputs of the pinned oracles (HF transformers, PyPI RDKit), regenerated when a script changes.
.fixtures/%/.done: scripts/oracle/%.py scripts/requirements.txt
	@mkdir -p $(@D)
	$(PY) $< --out $(@D)
	@touch $@

# The embed, score and LoRA goldens use the checkpoints the first script writes.
.fixtures/esm_embed_golden/.done: .fixtures/esm_checkpoints/.done
.fixtures/score_golden/.done: .fixtures/esm_checkpoints/.done
.fixtures/lora_peft/.done: .fixtures/esm_checkpoints/.done .fixtures/smiles_gpt_hf/.done

fixtures: setup
	@$(MAKE) --no-print-directory $(FIXTURES)

# Formatting and lints first (rustfmt.toml; clippy with every warning an error), then every test: unit tests in the
# crates, the library example (crates/models/examples), the end-to-end tests of the binary (tests/cli/).
test: setup fixtures
	$(CARGO) fmt --all --check
	$(CARGO) clippy $(CARGO_FLAGS) --workspace --all-targets -- -D warnings
	$(CARGO) test $(CARGO_FLAGS) --workspace --no-fail-fast
	@$(MAKE) --no-print-directory check-torch211

# The GPU machine's build (tch 0.24 against torch 2.11, scripts/device-bundle.sh) type-checked, so that it does not
# rot: a copy of the sources with a second lock, checked in the build folder clippy filled (only torch-sys, tch and
# the workspace crates compile again). Its own venv with torch 2.11.0 is made the first time (a few GB).
check-torch211: setup
	scripts/device-bundle.sh --check

# dist/device/: the self-contained check for the lent GPU machine (run there: dist/device/run.sh). The first build
# compiles the whole dependency tree once more in its own folder (its binary has the same name as the main one).
device-bundle: setup fixtures
	scripts/device-bundle.sh

# The bundle run as the GPU machine runs it, on the CPU: torch 2.11 venv only, no cargo, no project .venv.
device-proof: device-bundle
	scripts/device-proof.sh

demo: build
	@BIOTORCH=$(BIN) scripts/demo.sh

# A link to the binary in PREFIX/bin (default ~/.local/bin), so that `biotorch` runs from anywhere. The binary uses
# this checkout's .venv (libtorch) and data/models, so the link (not a copy) also follows rebuilds.
PREFIX ?= $(HOME)/.local
install: build
	@mkdir -p $(PREFIX)/bin
	ln -sfn $(BIN) $(PREFIX)/bin/biotorch
	@case ":$$PATH:" in *":$(PREFIX)/bin:"*) ;; *) echo "$(PREFIX)/bin is not on your PATH: add it, e.g. export PATH=\"$(PREFIX)/bin:\$$PATH\"";; esac

bench: build
	@for b in scripts/bench/*.sh; do BIOTORCH=$(BIN) $$b; done

clean:
	rm -rf .fixtures out
