# One entry point per job. Each target installs what it needs first.
#   make run    serve the app, API, a Celery worker and beat (embedded services if no URLs)
#   make test   the whole suite on real PostgreSQL, Redis, Celery workers and Chromium
#   make lint   ruff check + format check

SHELL := /bin/bash
# The interpreter for the virtualenv: Debian's /usr/bin/python3.11 when it can make one (built
# with profile-guided and link-time optimisation, libpython linked in), else python3.11 on PATH.
# pyenv's default build has neither: the hot path's Python ran 15-18 % slower on it
# (README, "Stack"). If none can, python3.11 on PATH is used anyway, so that venv's own error
# says what to install. PYTHON=/path/to/python3.11 overrides; an existing .venv is kept.
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell for p in /usr/bin/python3.11 "$$(command -v python3.11)" "$$(command -v python3)"; do \
	[ -x "$$p" ] && "$$p" -c 'import ensurepip, venv' 2>/dev/null && { echo "$$p"; exit 0; }; done; \
	command -v python3.11 || command -v python3)
endif
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
NODE_MODULES := frontend/node_modules/.installed
DIST := frontend/dist/index.html

.PHONY: run test lint format install frontend chromium clean api-client api-client-check bench-import bench-distribution bench-export bench-labeling

$(PY):
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version' \
		|| (echo "Python 3.11 is required (set PYTHON=/path/to/python3.11)"; exit 1)
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(INSTALLED)

$(NODE_MODULES): frontend/package.json frontend/package-lock.json
	@command -v npm >/dev/null || (echo "npm is required to build the browser app (apt-get install nodejs npm)"; exit 1)
	cd frontend && npm ci --no-audit --no-fund
	@touch $@

$(DIST): $(NODE_MODULES) $(shell find frontend/src frontend/index.html frontend/vite.config.ts -type f 2>/dev/null)
	cd frontend && npm run build

frontend: $(DIST)

chromium:
	@command -v chromium >/dev/null || (echo "installing Debian's chromium for the browser tests"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
		|| (echo "could not install chromium: the browser tests need it"; exit 1))

# The browser app's API types, generated from the OpenAPI schema (frontend/src/api/schema.d.ts).
api-client: $(INSTALLED) $(NODE_MODULES)
	$(PY) tools/api_client.py

# Fails when the committed types differ from the schema the code prints (run make api-client).
api-client-check: $(INSTALLED) $(NODE_MODULES)
	$(PY) tools/api_client.py --check

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(INSTALLED)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

run: $(INSTALLED) frontend
	$(PY) -m annotate.stack run

test: $(INSTALLED) frontend chromium lint api-client-check
	cd frontend && npm run typecheck --silent && npm test --silent
	$(PY) -m annotate.stack test $(PYTEST_ARGS)

clean:
	rm -rf var frontend/dist

bench-import: $(INSTALLED)
	$(PY) -m annotate.stack exec -- $(PY) bench/import_bench.py $(BENCH_ARGS)

bench-distribution: $(INSTALLED)
	$(PY) -m annotate.stack exec -- $(PY) bench/distribution_bench.py $(BENCH_ARGS)

bench-export: $(INSTALLED)
	$(PY) -m annotate.stack exec -- $(PY) bench/export_bench.py $(BENCH_ARGS)

bench-labeling: $(INSTALLED) frontend chromium
	$(PY) -m annotate.stack exec -- $(PY) bench/labeling_bench.py $(BENCH_ARGS)
