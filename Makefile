# Trunkline: `make run` and `make test` set everything up on a fresh Debian machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SYSPKGS := libspandsp-dev libpri-dev sox espeak-ng libtiff-tools postgresql poppler-utils chromium chromium-driver \
           alsa-utils flite sound-theme-freedesktop \
           asc-music powermanga-data xblast-tnt-musics tecnoballz-data ceferino-data chromium-bsu-data \
           openttd-openmsx libfluidsynth3 timgm6mb-soundfont csound-soundfont fluidr3mono-gm-soundfont libopenmpt0
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint bench fuzz sysdeps venv clean

RUNPKGS := espeak-ng

run: venv
	@$(MAKE) --no-print-directory sysdeps SYSPKGS="$(RUNPKGS)"
	$(VENV)/bin/trunkline run

test: sysdeps venv lint
	$(PY) -m pytest -q tests $(PYTEST_ARGS)

# The layer contract (import-linter), lint (ruff) and types (mypy). setup.py maps the top-level folders
# into the trunkline namespace, which static tools cannot follow from the source tree, so the contract
# and the types are checked on the tree as installed: build_py copies it to build/lint/trunkline.
LINT := build/lint
lint: venv
	rm -rf $(LINT) && $(PY) setup.py -q build_py --build-lib $(LINT) >/dev/null 2>&1
	cd $(LINT) && ../../$(VENV)/bin/lint-imports ../../.importlinter
	$(VENV)/bin/ruff check .
	cd $(LINT) && ../../$(VENV)/bin/mypy --config-file ../../mypy.ini -p trunkline

bench: sysdeps venv
	$(PY) -m pytest -q bench -p no:cacheprovider --benchmark-only -o testpaths=bench $(PYTEST_ARGS)
	$(PY) -m bench.density

# Long coverage-guided fuzzing of every untrusted-input decoder (#16): FUZZ_SECONDS per target (default
# 10 min), corpora kept in build/fuzz/<target>/ (grown over runs, seeded from tests/fuzz/corpus/<target>/),
# findings saved as build/fuzz/<target>-crash-*; replay one with `$(PY) tests/fuzz_run.py T --replay FILE`.
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?= q921 q931 r2 t4 hdlc sms_pdu audio tiff yaml_flow
fuzz: venv
	@status=0; for t in $(FUZZ_TARGETS); do mkdir -p build/fuzz/$$t; echo "== fuzz $$t ($(FUZZ_SECONDS) s)"; \
	  $(PY) tests/fuzz_run.py $$t build/fuzz/$$t tests/fuzz/corpus/$$t -max_total_time=$(FUZZ_SECONDS) \
	    -artifact_prefix=build/fuzz/$$t- -print_final_stats=1 || status=1; done; exit $$status

# Debian packages the tests use as peers and tools; installed only when missing.
sysdeps:
	@missing=""; for p in $(SYSPKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

venv: $(STAMP)

$(STAMP): setup.py hw_sim/tlsim.c hw_sim/tlsim.h hw_sim/build_sim.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) build *.egg-info hw_sim/_tlsim*.so .pytest_cache
