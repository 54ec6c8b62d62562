# `make demo`, `make test` and `make lab` work on a fresh machine: they bootstrap first.
# demo: the package and its runtime deps only; test: + the test extra; lab: + the notebook extra.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
# JupyterLab refuses to run as root unless told
LAB_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: demo test lab bootstrap bench clean

bootstrap: $(VENV)/.bootstrapped

$(VENV)/.bootstrapped: pyproject.toml scripts/bootstrap.sh
	VENV=$(VENV) bash scripts/bootstrap.sh

$(VENV)/.bootstrapped-test: pyproject.toml scripts/bootstrap.sh
	VENV=$(VENV) bash scripts/bootstrap.sh test

$(VENV)/.bootstrapped-notebook: pyproject.toml scripts/bootstrap.sh
	VENV=$(VENV) bash scripts/bootstrap.sh notebook

demo: $(VENV)/.bootstrapped
	$(PY) -m gctrace_nb demo --out demo-output

test: $(VENV)/.bootstrapped-test
	$(PY) -m pytest $(PYTEST_ARGS)

# jupyter_server_config.py strips outputs when a notebook is saved (tests compare the sources)
lab: $(VENV)/.bootstrapped-notebook
	$(VENV)/bin/jupyter lab --config=jupyter_server_config.py --notebook-dir=notebooks $(LAB_ROOT)

bench: $(VENV)/.bootstrapped-test
	$(PY) benchmarks/bench_core.py

clean:
	rm -rf $(VENV) demo-output .pytest_cache .hypothesis
