# `make demo` and `make test` work on a fresh machine: they bootstrap first.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: demo test bootstrap bench clean

bootstrap: $(VENV)/.bootstrapped

$(VENV)/.bootstrapped: pyproject.toml scripts/bootstrap.sh
	VENV=$(VENV) bash scripts/bootstrap.sh

demo: bootstrap
	$(PY) -m gctrace_nb demo --out demo-output

test: bootstrap
	$(PY) -m pytest $(PYTEST_ARGS)

bench: bootstrap
	$(PY) benchmarks/bench_core.py

clean:
	rm -rf $(VENV) demo-output .pytest_cache .hypothesis
