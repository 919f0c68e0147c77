# Two commands do everything: `make lab` and `make test`. Each sets up .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
REAL_REDIS_URL  ?= redis://127.0.0.1:6379/0
REAL_BROKER_URL ?= redis://127.0.0.1:6379/1
RABBITMQ_URL    ?= amqp://guest:guest@127.0.0.1:5672//
LAB_PORT ?= 8888
# make test's pytest workers (pytest-xdist): --dist loadscope keeps each test module and each
# notebook on one worker, as nbval needs (its cells share one kernel). TEST_WORKERS=0: one process.
# One more worker than CPUs: a worker waiting on a Celery worker, a server or a held task leaves
# its CPU to the spare one (2 CPUs, one sitting: 2 workers 48.8 s, 3 workers 41.9 s, 4: 43.1 s).
# The CPUs this process may use (a container's share, not the host's count).
CPUS := $(shell $(PYTHON) -c 'import os; print(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))' 2>/dev/null || echo 2)
TEST_WORKERS ?= $(shell n=$(CPUS); echo $$(( n + 1 < 6 ? n + 1 : 6 )))
PYTEST_XDIST := $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadscope)
# The real-services runs keep one worker per CPU: PostgreSQL and Redis need CPU too, and a lesson's
# floor (lesson 00: loading 100 rows vs. counting them, about 3.3x) fell under 1.5 once with a spare.
REAL_WORKERS ?= $(CPUS)
PYTEST_XDIST_REAL := $(if $(filter 0,$(REAL_WORKERS)),,-n $(REAL_WORKERS) --dist loadscope)
# A trainer's folder of wheels (make wheelhouse): make setup WHEELHOUSE=dir installs from it alone,
# uv and the editable install's build backend (setuptools) included. Not while building one.
WHEELHOUSE ?=
OFFLINE := $(if $(filter wheelhouse,$(MAKECMDGOALS)),,$(WHEELHOUSE))
# make serve's port: not 5000, which macOS's AirPlay receiver holds on many laptops.
PORT     ?= 5050
# Bytecode is cached for every command make runs, even where the shell sets
# PYTHONDONTWRITEBYTECODE: otherwise each pytest worker re-applies its assert rewriting to
# about 290 modules, and each notebook kernel recompiles patterns/ (make test: 69 s -> 58 s).
# The __pycache__ folders are git-ignored.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help doctor setup wheelhouse test-wheelhouse site guide lab check reset student test test-browser test-real test-rabbitmq serve bench notebooks check-runtime lock lint clean

help:
	@echo "make doctor     check this machine is ready (before or after setup); paste it to a trainer"
	@echo "make lab        set up, then open your copies of the lessons (workspace/) in JupyterLab"
	@echo "make check      grade the exercises in workspace/ (LESSON=08 for one lesson)"
	@echo "make reset      a fresh copy of every lesson in workspace/ (LESSON=08 for one); old kept"
	@echo "make student DIR=folder  the learner copies (no answers, no outputs) to hand out"
	@echo "make test       set up, then run every test and every notebook (nbval, strict)"
	@echo "make test-browser  every lesson run in JupyterLab by headless Chromium (Playwright)"
	@echo "make test-real  the same against PostgreSQL, Redis and a real Celery worker"
	@echo "make test-rabbitmq  the jobs tests and lesson 11 with RabbitMQ as the broker"
	@echo "make serve      run the reference markets API with demo data"
	@echo "make site       the lessons as static HTML pages (site/index.html), from stored outputs"
	@echo "make wheelhouse WHEELHOUSE=dir  every wheel make setup needs, for an install with no network"
	@echo "make guide     the instructor guide (docs/instructor-guide.md) from the lessons' metadata"
	@echo "make bench      print the measured figures the lessons quote (JSON)"
	@echo "make notebooks  re-execute every notebook from a clean kernel and store the outputs"
	@echo "make bench-suite  run the whole suite once, timed: suite.test_seconds, the slowest items (JSON)"

# The venv is rebuilt when the dependency files change. uv resolves in seconds; pip is the
# fallback when uv cannot be installed. constraints.txt pins what a fresh install resolves.
# Bytecode is compiled at install time: machines that set PYTHONDONTWRITEBYTECODE would
# otherwise recompile every package in every notebook kernel (about 1 s each).
$(STAMP): pyproject.toml constraints.txt overrides.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is required, found " + sys.version.split()[0]'
	@if test -x $(BIN)/python; then echo "updating .venv: the dependency files changed (about 30 s)…"; \
	else echo "setting up .venv (first run, about 30 s)…"; fi
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
ifneq ($(OFFLINE),)
	@echo "installing from the wheelhouse $(OFFLINE) alone (no index, no network)…"
	@$(BIN)/python -m pip install -q --no-index --find-links "$(OFFLINE)" uv
	@$(BIN)/uv pip install -q --offline --no-index --find-links "$(OFFLINE)" --compile-bytecode \
		--python $(BIN)/python -c constraints.txt --overrides overrides.txt -e '.[dev]'
else
	@if $(BIN)/python -m pip install -q uv; then \
		$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -c constraints.txt \
			--overrides overrides.txt -e '.[dev]'; \
	else \
		$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'; \
	fi
endif
	@touch $(STAMP)

setup: $(STAMP)

# Every wheel make setup needs, per target ("linux x86_64 3.11, macos arm64 3.12"; default: this
# machine), resolved with each target's own markers, plus manifest.json and MANIFEST.txt.
wheelhouse: $(STAMP)
	@test -n "$(WHEELHOUSE)" || { echo 'usage: make wheelhouse WHEELHOUSE=folder [TARGETS="linux x86_64 3.11, macos arm64 3.12"]'; exit 2; }
	@$(BIN)/python tools/wheelhouse.py "$(WHEELHOUSE)" $(if $(TARGETS),--targets "$(TARGETS)")

# Builds a wheelhouse for this machine, then make setup from it in a copy of the checkout with no
# network at all (unshare -n, as root) and no pip/uv configuration; imports, runs lesson 00 (.ci/run).
test-wheelhouse: $(STAMP)
	$(BIN)/python tools/test_wheelhouse.py

# Standard library only, run by the Python make setup would use: it works before .venv exists.
doctor:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 7))' 2>/dev/null || { \
		echo "FAIL python: '$(PYTHON)' is missing or older than 3.7, and the workbook needs 3.11 or newer:"; \
		echo "     https://www.python.org/downloads/ or pyenv, then make doctor PYTHON=python3.12"; exit 1; }
	@LAB_PORT=$(LAB_PORT) PORT=$(PORT) $(PYTHON) tools/doctor.py --venv $(VENV)

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
# mypy checks as the venv's Python: on 3.12+ the lock installs numpy whose stubs use 3.12 syntax.
test: $(STAMP)
	$(BIN)/ruff check -q patterns evidence bench tests tests_browser tools
	$(BIN)/lint-imports --no-logo
	$(BIN)/mypy --python-version $$($(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
	$(BIN)/python -m pytest $(PYTEST_XDIST)

# Playwright (the [browser] extra) drives Debian's chromium, /usr/bin/chromium, or the executable
# WORKBOOK_CHROMIUM names: no browser is ever downloaded. Not nbval: these are no notebooks.
test-browser: $(STAMP)
	@$(BIN)/python -c 'import playwright' 2>/dev/null || { echo "installing the [browser] extra (playwright)…"; \
		$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -c constraints.txt \
			--overrides overrides.txt -e '.[dev,browser]' \
		|| $(BIN)/python -m pip install -q -c constraints.txt -e '.[dev,browser]'; }
	$(BIN)/python -m pytest -p no:nbval -o addopts='-p no:cacheprovider -rs' tests_browser

test-real: $(STAMP)
	WORKBOOK_DATABASE_URL=$(PG_URL) WORKBOOK_REDIS_URL=$(REAL_REDIS_URL) \
	WORKBOOK_BROKER_URL=$(REAL_BROKER_URL) WORKBOOK_REAL_SERVICES=1 $(BIN)/python -m pytest $(PYTEST_XDIST_REAL)

# The jobs tests and lesson 11 again, RabbitMQ as the broker (results go to Redis).
test-rabbitmq: $(STAMP)
	WORKBOOK_DATABASE_URL=$(PG_URL) WORKBOOK_REDIS_URL=$(REAL_REDIS_URL) \
	WORKBOOK_BROKER_URL=$(RABBITMQ_URL) WORKBOOK_REAL_SERVICES=1 \
	$(BIN)/python -m pytest $(PYTEST_XDIST_REAL) tests/test_background_jobs.py notebooks/11_background_jobs.ipynb

serve: $(STAMP)
	@PORT=$(PORT) $(BIN)/python -m patterns.serve

# Every lesson as a static HTML page from its stored outputs (nothing runs), index = the README's
# lesson table; SITE=folder for another place than site/.
SITE ?= site
site: $(STAMP)
	@$(BIN)/python tools/build_site.py "$(SITE)"

# The instructor guide and the workshop tracks, from each lesson's metadata (tests keep it current).
guide: $(STAMP)
	@$(BIN)/python tools/instructor_guide.py

bench: $(STAMP)
	$(BIN)/python -m bench --json

# A benchmark of the suite itself (not part of make bench, which must stay quick): pytest as make
# test runs it, timed, its JUnit report read for the slowest notebook and the slowest ten items.
.PHONY: bench-suite
bench-suite: $(STAMP)
	$(BIN)/python -m bench.suite $(PYTEST_XDIST)

# LESSON=08 re-executes one lesson only.
notebooks: $(STAMP)
	$(BIN)/python tools/run_notebooks.py $(if $(LESSON),notebooks/$(LESSON)_*.ipynb,notebooks/*.ipynb)

# pip install . without extras in a fresh venv, then import every module of patterns (.ci/run).
check-runtime: $(STAMP)
	$(BIN)/python tools/check_runtime_install.py

lock: $(STAMP)
	$(BIN)/uv pip compile --universal --python-version 3.11 --extra dev --extra browser -q pyproject.toml \
		--overrides overrides.txt -o constraints.txt

lint: $(STAMP)
	$(BIN)/ruff check patterns evidence bench tests tests_browser tools

clean:
	rm -rf $(VENV)
