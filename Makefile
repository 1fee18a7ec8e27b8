# Every target makes .venv itself: a fresh machine needs only Python 3.11+ and make.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q

.PHONY: test demo demo-ui metrics-demo bench reliability lint clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# Runtime install (demo) and test install (test, bench, reliability) are stamped separately,
# and redone whenever the packaging files change.
$(VENV)/.stamp-run: $(VENV)/bin/python setup.cfg pyproject.toml
	$(PIP) install -e '.[screenshot,metrics]'
	@touch $@

$(VENV)/.stamp-test: $(VENV)/.stamp-run
	$(PIP) install -e '.[test]'
	@touch $@

$(VENV)/.stamp-ui: $(VENV)/.stamp-run
	$(PIP) install -e '.[ui]'
	@touch $@

test: $(VENV)/.stamp-test
	$(PY) -m pytest -q

reliability: $(VENV)/.stamp-test
	$(PY) -m pytest -q -m "reliability or slow" --timeout=1200

# ruff; import-linter (the layers and "no cycles": [importlinter] in setup.cfg); mypy ([mypy] in setup.cfg).
# All three run (every problem shown at once); the target fails if any of them does.
lint: $(VENV)/.stamp-test
	@status=0; \
	$(PY) -m ruff check . || status=1; \
	$(VENV)/bin/lint-imports || status=1; \
	$(PY) -m mypy || status=1; \
	exit $$status

demo: $(VENV)/.stamp-run
	$(PY) -m dc_verify.demo

demo-ui: $(VENV)/.stamp-ui
	$(PY) -m dc_verify.demo_ui

# node_exporter and Prometheus (Debian packages prometheus-node-exporter, prometheus) on 127.0.0.1
metrics-demo: $(VENV)/.stamp-test
	$(PY) -m dc_verify.demo.metrics

bench: $(VENV)/.stamp-test
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
