# Inpainterz: `make demo` (first run creates the environments), `make test`, `make bench`, `make addon`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BPY_42 := 4.2.23
BPY_50 := 5.0.1

.PHONY: demo test test-core test-blender bench addon lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[models,dev]'
	touch $@

.venv-blender-%/.installed:
	$(PYTHON) -m venv .venv-blender-$*
	.venv-blender-$*/bin/python -m pip install -q "bpy==$(if $(filter 4.2,$*),$(BPY_42),$(BPY_50))" pyzmq msgpack pytest
	touch $@

demo: $(VENV)/.installed
	$(PY) -m inpainterz_core.demo --out demo-output

test: test-core

test-core: $(VENV)/.installed
	$(PY) -m pytest -q

bench: $(VENV)/.installed
	$(PY) -m bench.run --out bench-output/bench.json

lint: $(VENV)/.installed
	$(PY) -m ruff check .

clean:
	rm -rf demo-output bench-output build dist *.egg-info
