# Every target bootstraps uv (into .tools/ when it is not on PATH) and uses the locked deps.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/$(TOOLS)/bin/uv)
RUN := $(UV) run --frozen --no-sync
BENCH_VENV := .venv-bench
export UV_PYTHON_DOWNLOADS := never
# Compile the dependencies' bytecode at install: where PYTHONDONTWRITEBYTECODE is set (many CI
# runners) every start would otherwise compile them from source again, about 3x slower.
export UV_COMPILE_BYTECODE := 1
export FLASK_APP := app
HOST ?= 127.0.0.1
PORT ?= 8000
# The backing services `make test-matrix` uses (this machine's; DEVELOPERS.md lists them).
PG_URL ?= postgresql://postgres@127.0.0.1:5432/postgres
MARIADB_URL ?= mysql://root@127.0.0.1:3306/test
REDIS_URL ?= redis://127.0.0.1:6379/0
RABBITMQ_URL ?= amqp://guest:guest@127.0.0.1:5672//
# The pinned OpenAPI tools (package.json, package-lock.json) run offline: no telemetry, no
# update checks. npm ci skips install scripts: none of them is needed, and one reports installs.
NODE_TOOLS := node_modules/.installed
export REDOCLY_TELEMETRY := off
export REDOCLY_SUPPRESS_UPDATE_NOTICE := true
export OPTIC_TELEMETRY_LEVEL := off
export NO_UPDATE_NOTIFIER := 1

.PHONY: help run test test-services test-matrix test-postgres test-mariadb test-pgbouncer test-previous lint fmt migrate revision openapi client client-check api-diff browsers prometheus promtool nginx ecs-fields container-check ci worker beat bench bench-smoke

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(CURDIR)/$(TOOLS)/bin/uv:
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

$(NODE_TOOLS): package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $@

.venv/.synced: uv.lock pyproject.toml | $(UV)
	@# Development includes the observability extra (OpenTelemetry, Sentry), so the suite
	@# tests traces and error reports; a plain `uv sync` and the image leave it out.
	$(UV) sync --frozen --extra observability
	@# The project's own code too, as the image does. A file edited later is compiled in memory
	@# at each start, as before; a stale .pyc is never used.
	$(RUN) python -m compileall -q app migrations gunicorn.conf.py
	@touch $@

run: .venv/.synced ## apply migrations and serve on http://$(HOST):$(PORT)
	$(RUN) flask db upgrade
	HOST=$(HOST) PORT=$(PORT) $(RUN) gunicorn --config gunicorn.conf.py

# pytest-xdist: one worker per CPU (PYTEST_WORKERS=0 runs in this process), each test file on
# one worker so a module's processes start once. Every worker keeps its own databases, Redis
# key prefixes, ports and folders, so runs and workers never see each other's data. (A worker
# more than CPUs once paid, while each module's in-process Celery worker took 4 s to stop; now
# that it stops at once, 2 and 3 workers measure the same on 2 CPUs, 91 to 93 s.)
PYTEST_WORKERS ?= auto
PYTEST := $(RUN) pytest -n $(PYTEST_WORKERS) --dist loadfile

test: .venv/.synced ## run the whole test suite
	$(PYTEST)

test-services: .venv/.synced ## the suite on TEST_DATABASE_URL, TEST_CELERY_BROKER_URL, TEST_REDIS_URL
	@echo "== suite: database=$${TEST_DATABASE_URL:-sqlite} broker=$${TEST_CELERY_BROKER_URL:-memory} rate-limits=$${TEST_REDIS_URL:-memory}"
	$(PYTEST) -q

# The legs run one after the other (MATRIX_JOBS=1), in the order a failure is likeliest to show:
# see DEVELOPERS.md, "Where the time goes", for why not side by side.
MATRIX_JOBS ?= 1
test-matrix: .venv/.synced ## the suite on PostgreSQL + Redis, MariaDB + RabbitMQ, PostgreSQL via PgBouncer
	$(MAKE) --no-print-directory -j$(MATRIX_JOBS) $(if $(filter-out 1,$(MATRIX_JOBS)),--output-sync=target) \
	  test-postgres test-mariadb test-pgbouncer
	@echo "== ran: sqlite+memory (make test), postgresql+redis, mariadb+rabbitmq, postgresql via pgbouncer (transaction mode)+redis"

test-postgres: .venv/.synced
	TEST_DATABASE_URL=$(PG_URL) TEST_CELERY_BROKER_URL=$(REDIS_URL) TEST_REDIS_URL=$(REDIS_URL) \
	  $(MAKE) --no-print-directory test-services

test-mariadb: .venv/.synced
	TEST_DATABASE_URL=$(MARIADB_URL) TEST_CELERY_BROKER_URL=$(RABBITMQ_URL) TEST_REDIS_URL=$(REDIS_URL) \
	  $(MAKE) --no-print-directory test-services

test-pgbouncer: .venv/.synced
	TEST_CELERY_BROKER_URL=$(REDIS_URL) TEST_REDIS_URL=$(REDIS_URL) \
	  bash scripts/with-pgbouncer.sh $(PG_URL) $(MAKE) --no-print-directory test-services

test-previous: .venv/.synced ## N-1: the previous commit's API tests on PostgreSQL migrated to this head (N1_BASE=commit)
	UV=$(UV) bash scripts/test-previous.sh $(PG_URL)

lint: .venv/.synced $(NODE_TOOLS) ## ruff, ruff format --check, mypy, migration rules, OpenAPI linter
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy
	$(RUN) python scripts/lint_migrations.py migrations/versions
	node_modules/.bin/redocly lint --config redocly.yaml openapi.json

fmt: .venv/.synced ## fix lint findings that ruff can fix, and format
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

migrate: .venv/.synced ## apply migrations to DATABASE_URL
	$(RUN) flask db upgrade

revision: .venv/.synced ## autogenerate a migration: make revision m="add books"
	@test -n "$(m)" || { echo 'usage: make revision m="what changed"'; exit 2; }
	@# Autogenerate compares the models with the database, so bring the database to head first.
	$(RUN) flask db upgrade
	$(RUN) flask db migrate -m "$(m)"

worker: .venv/.synced ## a Celery worker (needs CELERY_BROKER_URL, e.g. redis://127.0.0.1:6379/0)
	$(RUN) celery -q -A app.worker worker

beat: .venv/.synced ## the Celery scheduler for periodic tasks
	$(RUN) celery -q -A app.worker beat --schedule $(CURDIR)/instance/celerybeat-schedule

bench: .venv/.synced ## load benchmark: the template against a bare Flask baseline (bench/README.md)
	@command -v wrk >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; \
	  else \
	    echo "wrk is missing: sudo apt-get install wrk" >&2; exit 1; \
	  fi; }
	@# The servers run from the default install, as the image has it: no dev tools, no
	@# observability extra (redis-py would load OpenTelemetry's SDK in every process).
	UV_PROJECT_ENVIRONMENT=$(BENCH_VENV) $(UV) sync --frozen --no-dev --quiet
	BENCH_PG_URL=$${BENCH_PG_URL:-$(PG_URL)} BENCH_REDIS_URL=$${BENCH_REDIS_URL:-$(REDIS_URL)} \
	  $(BENCH_VENV)/bin/python bench/run.py $(BENCH_ARGS)

bench-smoke: ## one short round of the benchmark: fails on errors, never on numbers
	$(MAKE) --no-print-directory bench BENCH_ARGS="--smoke"

openapi: .venv/.synced ## rewrite the committed openapi.json from the code
	$(RUN) flask openapi write openapi.json

# The generator's settings and its post-processing (the locked ruff) are the project's, so the
# same openapi.json always gives the same client.
GENERATE_CLIENT := $(RUN) openapi-python-client generate --path openapi.json \
	--config clients/openapi-python-client.yaml --meta uv --overwrite

client: .venv/.synced ## regenerate the typed client in clients/python/ from openapi.json
	$(GENERATE_CLIENT) --output-path clients/python

api-diff: .venv/.synced $(NODE_TOOLS) ## fail on a breaking API change not declared in api-breaks.toml
	$(RUN) python scripts/api_diff.py

# (The *.jinja files beside three generated ones are copier's renders of them: not generated.)
client-check: .venv/.synced ## fail when clients/python/ differs from what `make client` writes
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  $(GENERATE_CLIENT) --output-path "$$tmp/python" >/dev/null && \
	  diff -r --exclude=__pycache__ --exclude=.ruff_cache --exclude='*.jinja' clients/python "$$tmp/python" || \
	  { echo "clients/python is stale: run \`make client\` and commit it" >&2; exit 1; }

browsers: ## install Debian's chromium for the browser tests when it is missing
	@command -v chromium >/dev/null || command -v google-chrome >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else \
	    echo "chromium is missing: sudo apt-get install chromium" >&2; exit 1; \
	  fi; }

prometheus: ## install Debian's prometheus (server and promtool) when missing, for its tests
	@command -v prometheus >/dev/null && command -v promtool >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus; \
	  else \
	    echo "prometheus is missing: sudo apt-get install prometheus" >&2; exit 1; \
	  fi; }

nginx: ## install Debian's nginx when missing, for the front proxy's process test
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx; \
	  else \
	    echo "nginx is missing: sudo apt-get install nginx" >&2; exit 1; \
	  fi; }

promtool: prometheus ## check deploy/prometheus/: alert rules, their unit tests, the scrape example
	promtool check rules deploy/prometheus/alerts.yml
	promtool test rules deploy/prometheus/alerts.test.yml
	promtool check config deploy/prometheus/prometheus.yml

ECS_VERSION := 9.4.0
ecs-fields: ## regenerate tests/ecs_fields.tsv (ECS names and types) from npm's @elastic/ecs
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  npm install --prefix "$$tmp" --no-save --no-audit --no-fund --silent @elastic/ecs@$(ECS_VERSION) && \
	  node scripts/ecs-fields.js "$$tmp/node_modules/@elastic/ecs" > tests/ecs_fields.tsv

container-check: .venv/.synced ## hadolint, compose and workflow schemas, build and run the image with podman
	bash scripts/container-check.sh

ci: export CI := true
ci: export TEST_FUZZ := full
ci: lint client-check api-diff browsers promtool nginx test test-matrix test-previous bench-smoke container-check ## what .ci/run runs; a missing service fails
