# Inpainterz: `make demo` (first run creates the environments), `make test`, `make bench`, `make addon`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BPY_42 := 4.2.23
BPY_45 := 4.5.15
BPY_50 := 5.0.1
BPY_VERSIONS := 5.0 4.5 4.2
# The add-on's bundled wheels: Blender 4.2-5.0 run Python 3.11, 5.1 and later 3.13.
# addon/blender_manifest.toml lists the same files (checked by tests/blender/test_package.py).
PYZMQ_VERSION := 27.3.0
MSGPACK_VERSION := 1.2.4
WHEEL_PYTHONS := 3.11 3.13
WHEEL_PLATFORMS := manylinux_2_28_x86_64 manylinux_2_28_aarch64 win_amd64 macosx_11_0_arm64 macosx_10_15_x86_64

.PHONY: demo test test-core test-blender bench addon lint clean

# Two steps: the core alone runs the demo (no torch: 176 MB of downloads); tests add the model,
# dev and batch extras (torch with its CUDA libraries: 5.5 GB in the environment, and the three Blenders
# 1 GB each). Disk, not time, is what a fresh machine runs short of, so pip keeps no second copy:
# --no-cache-dir (no wheel cache beside each install) and --no-compile (Python compiles what it imports
# when it first does, a fraction of the 355 MB of bytecode pip writes up front; it was also half the demo
# install's CPU time). (The newer pip costs less time than it saves.)
PIP_INSTALL = -m pip install -q --no-cache-dir --no-compile
$(VENV)/.core: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --no-cache-dir --upgrade pip
	$(PY) $(PIP_INSTALL) -e '.[demo]'
	touch $@

$(VENV)/.installed: $(VENV)/.core
	$(PY) $(PIP_INSTALL) -e '.[demo,models,dev,batch]'
	touch $@

# No pyzmq or msgpack here, as in Blender's own Python: the tests install the extension zip, wheels and all.
.venv-blender-%/.installed:
	$(PYTHON) -m venv .venv-blender-$*
	.venv-blender-$*/bin/python $(PIP_INSTALL) "bpy==$(BPY_$(subst .,,$*))" pytest
	touch $@

demo: $(VENV)/.core
	$(PY) -m inpainterz_core.demo --out demo-output

test: test-core test-blender

test-core: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest -q

# The add-on's tests run inside each Blender's Python, on the extension zip's own wheels (Blender's
# validator checks the zip first); the end-to-end ones start a server from $(VENV).
test-blender: $(VENV)/.installed addon/wheels/.downloaded $(BPY_VERSIONS:%=.venv-blender-%/.installed)
	for version in $(BPY_VERSIONS); do \
	  .venv-blender-$$version/bin/python -m pytest -q --confcutdir=tests/blender tests/blender || exit 1; \
	done

# dist/inpainterz-<version>.zip: Edit > Preferences > Get Extensions > Install from Disk.
addon: addon/wheels/.downloaded
	$(PYTHON) addon/build.py --stage build/addon --zip dist

addon/wheels/.downloaded: Makefile
	for python in $(WHEEL_PYTHONS); do for platform in $(WHEEL_PLATFORMS); do \
	  $(PYTHON) -m pip download -q --only-binary=:all: --python-version $$python --no-deps --platform $$platform \
	    -d addon/wheels pyzmq==$(PYZMQ_VERSION) msgpack==$(MSGPACK_VERSION) || exit 1; \
	done; done
	touch $@

# The quality goals of the classical path on cases with known truth (a few minutes): eval-output/table.md, sheets/.
.PHONY: eval
eval: $(VENV)/.installed
	$(VENV)/bin/inpainterz eval ../shared/clips/eval ../shared/clips/insert-mg4car --out eval-output

bench: $(VENV)/.installed
	$(PY) -m bench.run --out bench-output/bench.json

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

clean:
	rm -rf demo-output bench-output eval-output build dist *.egg-info
