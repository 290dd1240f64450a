# Two user-facing targets, both doing all set-up themselves (no root needed):
#   make bench   run the benchmark (python -m harness run; it says where the report is)
#   make test    linters and tests, Python and Rust
# Needs: Python 3.11+ (python3, or PYTHON=...), a Rust toolchain (rustup), a C linker.
# Extra arguments for the benchmark: make bench ARGS="--runs 5"

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Touched after a successful install: pip reruns only when pyproject.toml is newer. --no-compile:
# Python byte-compiles the modules it imports when first imported, not every module of NumPy,
# SciPy, pandas and matplotlib up front (measured: the install takes 12-13 s instead of 23-26 s).
STAMP := $(VENV)/.installed-from-pyproject
ARGS ?=

.PHONY: bench test
.DEFAULT_GOAL := test

bench: $(STAMP)
	$(BIN)/python -m harness run $(ARGS)

test: $(STAMP)
	@command -v cargo >/dev/null || { echo "make: cargo not found; install Rust with rustup (https://rustup.rs)" >&2; exit 1; }
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q -n 2 --dist loadgroup -m "not serial"
	$(BIN)/pytest -q -m serial
	cd rust_impl && cargo fmt --all --check
	cd rust_impl && cargo clippy --workspace --all-targets --locked -- -D warnings
	cd rust_impl && cargo test --workspace --locked

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { echo "make: $(PYTHON) is missing or older than 3.11; install Python 3.11+ or pass PYTHON=python3.12" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-compile -e '.[dev]'
	touch $@
