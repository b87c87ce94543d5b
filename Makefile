# Two entry points do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# What the emulated boards need: each one's cross compiler, its C library and QEMU (the
# STM32: ARM; virt rv32: RISC-V, whose emulator is in qemu-system-misc); and clang with
# its libFuzzer runtime for the firmware's fuzz test.
SYSTEM_PACKAGES := gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm \
	gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf qemu-system-misc clang \
	libclang-rt-14-dev

.PHONY: demo test lint venv system-deps firmware clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# The CPU build of torch first: a bare `torch` requirement would pull a CUDA build.
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

system-deps:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		echo "installing Debian packages:" $$missing; \
		$$sudo apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q $$missing; \
	fi

# Builds where the profiler looks for it (the user cache, see hw_profiler/flashers/firmware.py).
firmware: system-deps $(STAMP)
	$(MAKE) -C hw_profiler/firmware BUILD="$$($(PY) -c 'from hw_profiler.flashers.firmware import build_dir; print(build_dir())')" all riscv32

demo: system-deps $(STAMP)
	$(PY) -m pit_lightning.demo

test: system-deps $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -q

lint: $(STAMP)
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) .pytest_cache
