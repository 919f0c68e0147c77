# Two commands do everything: `make lab` and `make test`. Each sets up .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
REAL_REDIS_URL  ?= redis://127.0.0.1:6379/0
REAL_BROKER_URL ?= redis://127.0.0.1:6379/1
RABBITMQ_URL    ?= amqp://guest:guest@127.0.0.1:5672//
LAB_PORT ?= 8888

.PHONY: help setup lab check reset student test test-browser test-real test-rabbitmq serve bench notebooks check-runtime lock lint clean

help:
	@echo "make lab        set up, then open your copies of the lessons (workspace/) in JupyterLab"
	@echo "make check      grade the exercises in workspace/ (LESSON=08 for one lesson)"
	@echo "make reset      a fresh copy of every lesson in workspace/ (LESSON=08 for one); old kept"
	@echo "make student DIR=folder  the learner copies (no answers, no outputs) to hand out"
	@echo "make test       set up, then run every test and every notebook (nbval, strict)"
	@echo "make test-browser  every lesson run in JupyterLab by headless Chromium (Playwright)"
	@echo "make test-real  the same against PostgreSQL, Redis and a real Celery worker"
	@echo "make test-rabbitmq  the jobs tests and lesson 11 with RabbitMQ as the broker"
	@echo "make serve      run the reference markets API with demo data"
	@echo "make bench      print the measured figures the lessons quote (JSON)"
	@echo "make notebooks  re-execute every notebook from a clean kernel and store the outputs"

# The venv is rebuilt when the dependency files change. uv resolves in seconds; pip is the
# fallback when uv cannot be installed. constraints.txt pins what a fresh install resolves.
# Bytecode is compiled at install time: machines that set PYTHONDONTWRITEBYTECODE would
# otherwise recompile every package in every notebook kernel (about 1 s each).
$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is required, found " + sys.version.split()[0]'
	@if test -x $(BIN)/python; then echo "updating .venv: the dependency files changed (about 30 s)…"; \
	else echo "setting up .venv (first run, about 30 s)…"; fi
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@if $(BIN)/python -m pip install -q uv; then \
		$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -c constraints.txt -e '.[dev]'; \
	else \
		$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'; \
	fi
	@touch $(STAMP)

setup: $(STAMP)

# The learner works in workspace/ (git-ignored): copies without answers or outputs, made on first
# use and never overwritten; workspace/reference/ holds the lessons as stored, read-only.
lab: $(STAMP)
	@$(BIN)/python tools/workspace.py sync
	@LAB_PORT=$(LAB_PORT) $(BIN)/python tools/lab.py

check: $(STAMP)
	@$(BIN)/python tools/workspace.py sync
	@$(BIN)/python tools/check_workspace.py $(if $(LESSON),--lesson $(LESSON))

# The copy being replaced is renamed NN_name.old-<timestamp>.ipynb, not deleted.
reset: $(STAMP)
	@$(BIN)/python tools/workspace.py reset $(if $(LESSON),--lesson $(LESSON))

# REFERENCE=1 adds the reference lessons (answers and outputs) in DIR/reference/.
student: $(STAMP)
	@test -n "$(DIR)" || { echo "usage: make student DIR=folder [REFERENCE=1]"; exit 2; }
	@$(BIN)/python tools/workspace.py student "$(DIR)" $(if $(REFERENCE),--with-reference)

# Lint, the layer contract and the types first: each takes about a second once its cache is warm.
test: $(STAMP)
	$(BIN)/ruff check -q patterns evidence bench tests tests_browser tools
	$(BIN)/lint-imports --no-logo
	$(BIN)/mypy
	$(BIN)/python -m pytest

# Playwright (the [browser] extra) drives Debian's chromium, /usr/bin/chromium, or the executable
# WORKBOOK_CHROMIUM names: no browser is ever downloaded. Not nbval: these are no notebooks.
test-browser: $(STAMP)
	@$(BIN)/python -c 'import playwright' 2>/dev/null || { echo "installing the [browser] extra (playwright)…"; \
		$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -c constraints.txt -e '.[dev,browser]' \
		|| $(BIN)/python -m pip install -q -c constraints.txt -e '.[dev,browser]'; }
	$(BIN)/python -m pytest -p no:nbval -o addopts='-p no:cacheprovider -rs' tests_browser

test-real: $(STAMP)
	WORKBOOK_DATABASE_URL=$(PG_URL) WORKBOOK_REDIS_URL=$(REAL_REDIS_URL) \
	WORKBOOK_BROKER_URL=$(REAL_BROKER_URL) WORKBOOK_REAL_SERVICES=1 $(BIN)/python -m pytest

# The jobs tests and lesson 11 again, RabbitMQ as the broker (results go to Redis).
test-rabbitmq: $(STAMP)
	WORKBOOK_DATABASE_URL=$(PG_URL) WORKBOOK_REDIS_URL=$(REAL_REDIS_URL) \
	WORKBOOK_BROKER_URL=$(RABBITMQ_URL) WORKBOOK_REAL_SERVICES=1 \
	$(BIN)/python -m pytest tests/test_background_jobs.py notebooks/11_background_jobs.ipynb

serve: $(STAMP)
	$(BIN)/python -m patterns.serve

bench: $(STAMP)
	$(BIN)/python -m bench --json

# LESSON=08 re-executes one lesson only.
notebooks: $(STAMP)
	$(BIN)/python tools/run_notebooks.py $(if $(LESSON),notebooks/$(LESSON)_*.ipynb,notebooks/*.ipynb)

# pip install . without extras in a fresh venv, then import every module of patterns (.ci/run).
check-runtime: $(STAMP)
	$(BIN)/python tools/check_runtime_install.py

lock: $(STAMP)
	$(BIN)/uv pip compile --universal --python-version 3.11 --extra dev --extra browser -q pyproject.toml -o constraints.txt

lint: $(STAMP)
	$(BIN)/ruff check patterns evidence bench tests tests_browser tools

clean:
	rm -rf $(VENV)
