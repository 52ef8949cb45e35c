# Quick start:  make demo   (set up, then validate/summarise/compile a shipped example)
#               make test   (set up, then run the whole test suite)
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
# CI and this Makefile pin the CPU build of torch that ships on the dev machines; users may install any torch>=2.3.
TORCH_PIN ?= torch==2.13.0
STAMP := $(VENV)/.installed
EXAMPLE ?= examples/highres3dnet.yaml

.PHONY: setup demo test lint fmt types schema docs bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v dot >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq && apt-get install -y -qq graphviz >/dev/null) ; } || \
	  echo "note: graphviz 'dot' not installed; 'graphnet draw' will only write .dot files"
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check "$(TORCH_PIN)"
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev,onnx]' "$(TORCH_PIN)"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/graphnet validate examples/*.yaml
	$(VENV)/bin/graphnet summary $(EXAMPLE) --input image=1x1x64x64x64
	$(VENV)/bin/graphnet draw $(EXAMPLE) --input image=1x1x64x64x64 -o out/highres3dnet.svg
	$(VENV)/bin/graphnet compile $(EXAMPLE) --input image=1x1x32x32x32 -o out/highres3dnet.pt2

test: $(STAMP)
	$(PY) -m pytest -n 2 -q

lint: $(STAMP)
	$(VENV)/bin/ruff check graphnet tests benchmarks
	$(VENV)/bin/ruff format --check graphnet tests benchmarks
	$(VENV)/bin/mypy

fmt: $(STAMP)
	$(VENV)/bin/ruff format graphnet tests benchmarks
	$(VENV)/bin/ruff check --fix graphnet tests benchmarks

schema: $(STAMP)
	$(VENV)/bin/graphnet schema -o schemas/graphnet.schema.json

docs: schema
	$(PY) -c "from graphnet.schema import layer_reference; open('docs/layers.md', 'w').write(layer_reference())"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
