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
.PHONY: lock

## Installs take the exact versions of the lock files, each file checked against its hash:
## requirements.lock (what Attest needs to run) and requirements-dev.lock (that and the tools of
## the tests), both made from pyproject.toml by `make lock`. Attest itself is installed last,
## without dependencies, so nothing outside the lock is fetched.
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock

$(INSTALLED): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(DEV_INSTALLED): pyproject.toml $(DEV_LOCK) $(INSTALLED)
	$(BIN)/pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(BIN)/pip install --quiet --no-deps -e '.[dev]'
	touch $@

install: $(INSTALLED)

## Re-make the lock files from pyproject.toml (uv, from PyPI; one file for every Python and
## platform the project allows, markers where they differ), keeping the versions already locked
## where pyproject.toml still allows them; `make lock UPGRADE=1` takes the newest allowed instead. The runtime lock is cut from the dev lock, so the two agree.
UV_COMPILE = $(BIN)/uv pip compile pyproject.toml --generate-hashes --universal --quiet
lock: $(DEV_INSTALLED)
	$(UV_COMPILE) --extra dev $(if $(UPGRADE),--upgrade) -o $(DEV_LOCK)
	$(UV_COMPILE) -c $(DEV_LOCK) -o $(LOCK)

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
	$(BIN)/python -m bench.scale --size both --db both

vendor:
	scripts/vendor_static.sh

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

.PHONY: test-hardening sbom

## The assurance checks of issue 19 (README "Security: the assurance suite"), ending with a table
## of each check, what it tried and its result: malware scanning with a real clamd, generative
## API testing (HARDENING_EXAMPLES per operation and role, 100 by default), the concurrency drill
## (8 writers x HARDENING_DRILL_TRANSACTIONS), the crash and fault drills (kill -9 during 20 uploads
## of 1-150 MB capped at 1 GB in all, edits, a submission and a reminder run; a full disk; a dropped
## database connection), the browser attack crawl (every page reached), bandit, pip-audit
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
