# Trunkline: `make run` and `make test` set everything up on a fresh Debian machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SYSPKGS := libspandsp-dev libpri-dev libss7-dev baresip-core kamailio sox espeak-ng libtiff-tools postgresql poppler-utils \
           chromium chromium-driver \
           alsa-utils flite sound-theme-freedesktop \
           asc-music powermanga-data xblast-tnt-musics tecnoballz-data ceferino-data chromium-bsu-data \
           openttd-openmsx libfluidsynth3 timgm6mb-soundfont csound-soundfont fluidr3mono-gm-soundfont libopenmpt0 \
           fonts-wqy-microhei
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint bench soak fuzz sysdeps venv clean dahdi-header

# The real DAHDI userspace ABI header (dahdi/user.h) comes only in Debian's dahdi-source; it is fetched
# without its build dependencies (apt-get download + dpkg -x) into build/dahdi. The emulated /dev/dahdi
# (an LD_PRELOAD shim over the card simulator, for tests and demos) is built from it, and the ABI test
# checks the dahdi:// backend's ioctl numbers and struct layouts against it.
DAHDI_DIR  := build/dahdi
DAHDI_H    := $(DAHDI_DIR)/usr/include/dahdi/user.h
DAHDI_SHIM := hw_sim/libtldahdi_shim.so
dahdi-header: $(DAHDI_H)
$(DAHDI_H):
	mkdir -p $(DAHDI_DIR)
	cd $(DAHDI_DIR) && rm -f dahdi-source_*.deb && \
	  (apt-get download -qq dahdi-source 2>/dev/null || ($(SUDO) apt-get update -qq && apt-get download -qq dahdi-source))
	cd $(DAHDI_DIR) && dpkg -x dahdi-source_*.deb . && rm -f dahdi-source_*.deb
	touch $@
$(DAHDI_SHIM): hw_sim/dahdi_shim.c $(DAHDI_H)
	$(CC) -O2 -Wall -shared -fPIC -I$(DAHDI_DIR)/usr/include -o $@ hw_sim/dahdi_shim.c -ldl

RUNPKGS := espeak-ng

run: venv
	@$(MAKE) --no-print-directory sysdeps SYSPKGS="$(RUNPKGS)"
	$(VENV)/bin/trunkline run

test: sysdeps venv lint
	$(PY) -m pytest -q tests --durations=30 $(PYTEST_ARGS)

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
	$(PY) -m bench.call_setup
	$(PY) -m bench.sip_density
	$(PY) -m bench.sip_setup
	$(PY) -m bench.dahdi_io

# 100,000 simulated calls on one engine: peak memory, open fds, growth per 1,000 calls, stuck channels
soak: venv
	$(PY) -m bench.soak --calls $${SOAK_CALLS:-100000} --channels $${SOAK_CHANNELS:-240}

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

venv: $(STAMP) $(DAHDI_SHIM)

$(STAMP): setup.py hw_sim/tlsim.c hw_sim/tlsim.h hw_sim/build_sim.py drivers/backends/tldahdi.c drivers/backends/tldahdi.h \
          drivers/backends/build_dahdi.py drivers/backends/rtp/rtp.c drivers/backends/rtp/rtp.h drivers/backends/rtp/rtp_demux.c \
          drivers/backends/rtp/rtp_demux.h drivers/backends/rtp/build_rtp.py \
          fax/kernel/faxbank.c fax/kernel/faxbank.h fax/kernel/build_faxbank.py \
          fax/kernel/t4codec.c fax/kernel/t4codec.h fax/kernel/build_t4codec.py fax/kernel/t4decode.c fax/kernel/t4tab.h \
           fax/kernel/faxrx.c fax/kernel/faxrx.h fax/kernel/v21rx.c fax/kernel/fbmath.h fax/kernel/fbhdlc.c fax/kernel/fbtx.c \
           fax/kernel/fbtxfsk.c fax/kernel/fbsink.h \
           fax/kernel/rxfront.c fax/kernel/rxfront.h fax/kernel/rxlock.c \
           media/kernel/tick.c media/kernel/tick.h media/kernel/build_tick.py \
           media/kernel/recwrite.c media/kernel/recwrite.h media/kernel/dtmf2.c media/kernel/dtmf2.h \
           media/kernel/amd.c media/kernel/amd.h
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,bench]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) build *.egg-info hw_sim/_tlsim*.so $(DAHDI_SHIM) drivers/backends/_tldahdi*.so drivers/backends/_rtp*.so fax/_faxbank*.so fax/_t4codec*.so \
	       .pytest_cache
