# `make` lists the targets. Every target installs what it needs first.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PY := .venv/bin/python
SERVICES := scripts/services.sh
# Runs a command with the stack's secrets (.state/secrets.env, generated once, never committed) in its environment.
SECRETS := scripts/secrets.sh
STAMP := .venv/.installed-$(shell cat requirements.txt requirements-dev.txt requirements-s3.txt | sha1sum | cut -c1-12)

# make up: the production-like stack (Cassandra answers, S3 files, gunicorn x N behind Nginx) on the production
# settings. It serves plain HTTP on loopback, so HTTPS redirects are off; everything else stays hardened.
UP_ENV := DJANGO_SETTINGS_MODULE=core.settings.production SECURE_SSL_REDIRECT=$${SECURE_SSL_REDIRECT:-false} \
	ANSWER_STORE=cassandra FILE_STORAGE=s3 DEBUG=false
# make run: embedded defaults (answers in PostgreSQL, files on local disk, the dev server).
RUN_ENV := ANSWER_STORE=postgres FILE_STORAGE=local DEBUG=true

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt requirements-s3.txt
	@scripts/venv.sh .venv # python3 -m venv, installing Debian's python3-venv first when it is missing
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -r requirements-dev.txt
	@$(PY) -m pip install -q --require-hashes --no-deps -r requirements-s3.txt
	@rm -f .venv/.installed-*; touch $@

.PHONY: venv
venv: $(STAMP) ## Create the virtualenv with pinned packages

.PHONY: run
run: venv ## Everything on embedded defaults, with demo data, on http://127.0.0.1:8000
	@$(SECRETS)
	$(SERVICES) start postgres redis
	$(RUN_ENV) $(SECRETS) $(PY) manage.py migrate --noinput
	$(RUN_ENV) $(SECRETS) $(PY) manage.py demo_data
	$(RUN_ENV) $(SERVICES) start worker
	@echo "Dev server on http://127.0.0.1:8000 (API docs at /api/docs/, admin at /admin/). Ctrl-C stops it; 'make down' stops the rest."
	$(RUN_ENV) $(SECRETS) $(PY) manage.py runserver 127.0.0.1:8000

.PHONY: up
up: venv ## The production-like stack in the background, behind Nginx on http://127.0.0.1:8080
	@$(SECRETS)
	$(SERVICES) start postgres redis cassandra s3
	$(UP_ENV) $(SECRETS) $(PY) manage.py migrate --noinput
	$(UP_ENV) $(SECRETS) $(PY) manage.py cassandra_sync
	$(UP_ENV) $(SECRETS) $(PY) manage.py collectstatic --noinput -v0
	$(UP_ENV) ADMIN_EMAIL=$${ADMIN_EMAIL:-admin@example.com} ADMIN_PASSWORD="$${ADMIN_PASSWORD:-$$($(SECRETS) --get ADMIN_PASSWORD)}" \
		$(SECRETS) $(PY) manage.py ensure_admin
	$(UP_ENV) $(SERVICES) start web worker beat nginx
	@$(PY) scripts/wait_http.py http://127.0.0.1:$${NGINX_PORT:-8080}/health 60

.PHONY: down
down: ## Stop everything that make up or make run started
	$(SERVICES) stop nginx beat worker web s3 cassandra redis postgres

.PHONY: test
test: venv ## Start the real servers and run every test
	$(SERVICES) start postgres redis cassandra s3
	scripts/browser.sh install || echo "The browser could not be installed: the site's Chromium tests will say so and be skipped."
	DJANGO_SETTINGS_MODULE=core.settings.test ANSWER_STORE=cassandra $(SECRETS) $(PY) manage.py test --noinput --parallel 1

.PHONY: lint
lint: venv ## ruff, the ruff format check, and import-linter's layer contracts
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/lint-imports

.PHONY: types
types: venv ## mypy with django-stubs over core/ (not its migrations and tests) and cassandra_orm
	.venv/bin/mypy core cassandra_orm

.PHONY: bench
bench: up ## The benchmarks of docs/benchmarks.md, each against its floor
	$(UP_ENV) $(SECRETS) $(PY) bench/run.py

# One client address logs every student in, so a stack started by `make load` lifts the per-client login
# throttle (a stack already running keeps its own setting). LOAD_ARGS passes options, e.g. LOAD_ARGS="--students 200".
# Failure drills (docs/drills.md): load through Nginx while one server is killed, stopped, frozen or restarted,
# then every acknowledged save is read back. DRILLS_ARGS passes options, e.g. DRILLS_ARGS="--only redis".
.PHONY: drills
drills: up ## Failure drills: kill -9 web, stop Cassandra, freeze PostgreSQL, kill -9 the worker mid-grade, restart Redis
	$(UP_ENV) $(SECRETS) $(PY) -m drills.run $(DRILLS_ARGS)

.PHONY: drills-ci
drills-ci: up ## The reduced failure drills for CI (web, Cassandra, Redis; smaller loads; about 2 minutes)
	$(UP_ENV) $(SECRETS) $(PY) -m drills.run --ci $(DRILLS_ARGS)

# CASSANDRA_NODES=3 (exported, so that make up and the drills agree): the stack on a three-node cluster.
.PHONY: drills-cluster
drills-cluster: export CASSANDRA_NODES := 3
drills-cluster: up ## Failure drills on a three-node Cassandra cluster: kill -9 a node, two nodes down, SIGSTOP, rolling restart
	$(UP_ENV) $(SECRETS) $(PY) -m drills.run --cluster $(DRILLS_ARGS)

.PHONY: load
load: export LOGIN_RATE_PER_CLIENT ?= 100000/min
load: up ## Load test: 500 students log in and save answers for 60 s; fails if an acknowledged save is lost
	$(UP_ENV) $(SECRETS) $(PY) test_traffic.py $(LOAD_ARGS)

.PHONY: screenshots
screenshots: venv ## Screenshots of each page of the student site and the doctor's admin screens, in headless Chromium, into docs/screenshots/
	$(SERVICES) start postgres redis cassandra s3
	scripts/browser.sh install
	SITE_SCREENSHOTS=docs/screenshots DJANGO_SETTINGS_MODULE=core.settings.test ANSWER_STORE=cassandra $(SECRETS) $(PY) manage.py test core.site.tests.test_screenshots --noinput --parallel 1

.PHONY: messages
messages: venv ## Refresh the site's translation catalogues (core/site/locale) and compile them (.mo files are committed)
	cd core/site && ../../$(PY) ../../manage.py makemessages -l ar -l en --no-obsolete && ../../$(PY) ../../manage.py compilemessages
