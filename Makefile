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

PANGO_CHECK = /sbin/ldconfig -p | grep -q libpangoft2-1.0 || missing="$$missing libpango-1.0-0 libpangoft2-1.0-0"; \
	[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing="$$missing fonts-dejavu-core";

## Pango and fonts for WeasyPrint (ISAS PDFs), needed to run Attest.
runtime-deps:
	@missing=""; \
	$(PANGO_CHECK) \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

## Debian packages: Chromium for browser tests; Pango and fonts for WeasyPrint (ISAS PDFs).
## Installed only when missing.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	$(PANGO_CHECK) \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

## Start Attest with demo data on SQLite and a local evidence folder.
run: $(INSTALLED) runtime-deps
	$(BIN)/attest db upgrade
	$(BIN)/attest demo
	@echo "Open http://$(HOST):$(PORT)/"
	$(BIN)/attest serve --host $(HOST) --port $(PORT)

## The whole suite (on PostgreSQL too when ATTEST_TEST_POSTGRES_URL is set).
test: dev
	$(BIN)/pytest

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
