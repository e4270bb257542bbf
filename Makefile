# Attest: the two commands a newcomer types are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
DEV_INSTALLED := $(VENV)/.dev-installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint format bench system-deps runtime-deps install dev clean vendor

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEV_INSTALLED): pyproject.toml $(INSTALLED)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(INSTALLED)

dev: $(DEV_INSTALLED) system-deps

## Debian packages: one list per need, each read here and nowhere else but the Dockerfile
## (tests/test_deployment.py checks that the two cannot drift).
RUNTIME_PACKAGES := deploy/debian-runtime.txt
DEV_PACKAGES := deploy/debian-dev.txt
# The packages named in the list files $(1) ('#' starts a comment).
PACKAGE_NAMES = sed -e 's/\#.*//' $(1)
# Install the packages of the lists $(1) that are not installed yet (sudo when not root).
INSTALL_MISSING = if ! command -v dpkg-query >/dev/null; then \
	  echo "not a Debian system: install the equivalents of" $$($(PACKAGE_NAMES)); \
	else \
	  missing=""; \
	  for package in $$($(PACKAGE_NAMES)); do \
	    dpkg-query -W -f='$${Status}' "$$package" 2>/dev/null | grep -qx 'install ok installed' \
	      || missing="$$missing $$package"; \
	  done; \
	  if [ -n "$$missing" ]; then \
	    echo "installing Debian packages:$$missing"; \
	    if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	  fi; \
	fi

## Pango and fonts for WeasyPrint (ISAS PDFs), needed to run Attest. Installed only when missing.
runtime-deps:
	@$(call INSTALL_MISSING,$(RUNTIME_PACKAGES))

## What runtime-deps installs, and what only the tests need: Chromium for the browser tests,
## docker-compose to validate compose.yaml. Installed only when missing.
system-deps:
	@$(call INSTALL_MISSING,$(RUNTIME_PACKAGES) $(DEV_PACKAGES))

## Start Attest with demo data on SQLite and a local evidence folder: the web server and one
## worker (reminders, notifications and their mail, queued in var/jobs.db); one Ctrl-C stops
## both. Links in mail and feeds use the port served (PORT=8201) unless ATTEST_BASE_URL is set.
run: $(INSTALLED) runtime-deps
	$(BIN)/attest db upgrade
	$(BIN)/attest demo
	@$(BIN)/attest local --host $(HOST) --port $(PORT)
	@export ATTEST_BASE_URL="$$($(BIN)/attest local --host $(HOST) --port $(PORT) --base-url)"; \
	$(BIN)/attest worker & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; \
	$(BIN)/attest serve --host $(HOST) --port $(PORT)

## The whole suite (on PostgreSQL too when ATTEST_TEST_POSTGRES_URL is set), on two workers:
## each worker has its own temporary folder, PostgreSQL database and servers on free ports;
## tests that share one expensive server (SeaweedFS, Chromium) stay on one worker (loadgroup).
TEST_WORKERS ?= 2
test: dev
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup --durations=10

lint: $(DEV_INSTALLED)
	$(BIN)/ruff check app tests bench
	$(BIN)/ruff format --check app tests bench
	$(BIN)/mypy app

format: $(DEV_INSTALLED)
	$(BIN)/ruff format app tests
	$(BIN)/ruff check --fix app tests

bench: dev
	$(BIN)/python -m bench

vendor:
	scripts/vendor_static.sh

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

.PHONY: test-hardening sbom

## The assurance checks of issue 19 (README "Security: the assurance suite"), ending with a table
## of each check, what it tried and its result: malware scanning with a real clamd, generative
## API testing (HARDENING_EXAMPLES per operation and role, 100 by default), the concurrency drill
## (8 writers x HARDENING_DRILL_TRANSACTIONS), the browser attack crawl (every page reached), bandit, pip-audit
## (skipped, with the reason, where its advisory database cannot be reached) and the SBOM.
## Reports go to var/hardening/. Installs what it needs first, Debian packages included.
HARDENING_EXAMPLES ?= 100
## The concurrency drill's transactions per writer (8 writers; the default suite runs 25).
HARDENING_DRILL_TRANSACTIONS ?= 200
test-hardening: dev
	$(BIN)/python -m tests.hardening.report --examples $(HARDENING_EXAMPLES) \
		--drill-transactions $(HARDENING_DRILL_TRANSACTIONS) --out var/hardening

## A CycloneDX SBOM (JSON) of the installed environment, pinned versions included: var/sbom.cdx.json.
sbom: $(DEV_INSTALLED)
	@mkdir -p var
	$(BIN)/cyclonedx-py environment --pyproject pyproject.toml --of JSON -o var/sbom.cdx.json $(BIN)/python
	@echo "SBOM written to var/sbom.cdx.json"

.PHONY: screenshots

## Re-shoot the README's tour (docs/screenshots/*.png) in Debian's Chromium at 1280 px: the script
## serves its own Attest with demo data in a temporary folder (no `make run` needed; var/ untouched).
screenshots: dev
	$(BIN)/python scripts/screenshots.py
