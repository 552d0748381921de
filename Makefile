# `make test` installs everything the tests need (Debian packages when run as root, then a
# virtualenv with the dev extras) and runs the suite. `make lint` runs the quality gates, Prometheus's
# promtool on the shipped alert rules included (tests/test_deploy.py runs it too).
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install test lint bench

install:
	@bash .ci/install-system-packages
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'

test: install
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	cd deploy/prometheus && promtool check rules rules.yml && promtool test rules rules.test.yml

bench: install
	$(PY) bench/report_latency.py
	$(PY) bench/report_memory.py
	$(PY) bench/slack_ack.py
	$(PY) bench/cli_startup.py
