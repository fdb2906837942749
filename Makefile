# make test: set up .venv with everything the tests need (first run only: system packages on
#            Debian as root, all test extras); run ruff, mypy, the strict docs build and the whole suite.
# make demo: set up .venv with only what the demo needs (Airflow, SQLite, the sandbox: no root, no
#            system packages); run the example DAGs against the vendor sandbox and print a report.
#            `make demo KEEP=1` keeps the demo's folder (Airflow home, usage database, logs).
#            Also writes the Credits page with the demo's data as one HTML file and prints its path.
# make demo-ui: the demo, then `airflow api-server` on its data; prints the URL and the login.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
AIRFLOW_VERSION ?= 3.3.2
# The complete (test) set-up; it is a superset of the demo's, so it also marks the demo's done.
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo

.PHONY: test lint demo demo-ui docs sysdeps screenshots bench fuzz reliability-report clean

$(STAMP): pyproject.toml Makefile
	@$(MAKE) --no-print-directory sysdeps
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]' 'apache-airflow==$(AIRFLOW_VERSION)'
	touch $(STAMP) $(DEMO_STAMP)

# The demo's set-up: Airflow, the SQLite provider and the sandbox's server; nothing to compile.
$(DEMO_STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
	  echo "cannot create $(VENV) with $(PYTHON) (Debian: apt-get install python3-venv)"; exit 1; }
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[sqlite,sandbox]' 'apache-airflow==$(AIRFLOW_VERSION)'
	touch $(DEMO_STAMP)

# mysqlclient (MySQL/MariaDB provider) builds against the MariaDB client headers.
sysdeps:
	@if ! pkg-config --exists mariadb 2>/dev/null && ! pkg-config --exists mysqlclient 2>/dev/null; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "installing libmariadb-dev and pkg-config (needed to build mysqlclient)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libmariadb-dev pkg-config >/dev/null; \
	  else \
	    echo "please install the MariaDB client headers (Debian: apt-get install libmariadb-dev pkg-config)"; exit 1; \
	  fi; \
	fi
	@# Chromium drives the browser tests of the connection forms (they skip without it, but not under CI).
	@if [ ! -x /usr/bin/chromium ] && ! command -v chromium >/dev/null; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "installing chromium (browser tests of the connection forms)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "the UI tests need Chromium (Debian: apt-get install chromium); they skip without it"; fi; \
	fi

PY_DIRS := $(wildcard airflow_provider_credits tests example_dags benchmarks scripts)

lint: $(STAMP)
	$(BIN)/ruff check $(PY_DIRS)
	$(BIN)/ruff format --check $(PY_DIRS)
	$(BIN)/mypy

test: lint docs
	$(BIN)/python -m pytest -ra $(PYTEST_ARGS)

docs: $(STAMP)
	$(BIN)/mkdocs build --strict --site-dir .site

demo: $(DEMO_STAMP)
	$(BIN)/python scripts/demo.py $(if $(filter-out 0,$(KEEP)),--keep)

# The demo, then the Airflow UI on its data (SQLite, simple auth manager): prints the URL and login.
demo-ui: $(DEMO_STAMP)
	$(BIN)/python scripts/demo.py --ui $(if $(filter-out 0,$(KEEP)),--keep) $(if $(PORT),--port $(PORT))

# Benchmarks (several minutes): writes benchmarks/RESULTS.md.
bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

# Long property-based run (CREDITS_FUZZ_EXAMPLES per property, default 1500: about a minute).
fuzz: $(STAMP)
	CREDITS_FUZZ_EXAMPLES=$${CREDITS_FUZZ_EXAMPLES:-1500} $(BIN)/python -m pytest -q tests/reliability/test_fuzz.py

# Re-measure the fault matrix and rewrite its table in docs/reliability.md.
reliability-report: $(STAMP)
	$(BIN)/python -m tests.reliability.report --write

# Regenerate docs/img/connection-*.png and dashboard-*.png from a real Airflow UI (needs Chromium).
screenshots: $(STAMP)
	$(BIN)/python -m tests.system.ui.screenshots
	CREDITS_SCREENSHOTS=docs/img $(BIN)/python -m pytest -q -p no:cacheprovider tests/system/ui/test_dashboard.py

clean:
	rm -rf $(VENV) .site .pytest_cache .mypy_cache .ruff_cache

# ---------------------------------------------------------------------------------------------
# Release checks (docs/versioning.md).
# make test-compat: the unit and integration suites on the oldest supported Airflow (the floor's
#   latest patch) and on 3.2's latest, each in its own .venv-compat-<version> (set up on first run).
# make dist: build the sdist and the wheel, twine check, then scripts/check_dist.py installs the
#   wheel into a fresh .venv-dist with no development dependencies and runs it there.
COMPAT_AIRFLOW_VERSIONS ?= 3.1.8 3.2.2
# Extra requirements per Airflow version so that pip resolves quickly. Airflow 3.1 caps FastAPI
# below 0.118 and cadwyn 6+ needs FastAPI 0.121: without the pin pip backtracks through cadwyn 9..5.
# When a provider's newest release needs a newer Airflow than one tested here, pip backtracks to an
# older release by itself; pin it here (e.g. 'apache-airflow-providers-celery<3.27') if that is slow.
COMPAT_PINS_3.1.8 := 'cadwyn<6'
COMPAT_PINS_3.2.2 :=
# The unit, integration and reliability suites, and the system tests that run no DAG (docs, dist
# manifest, example DAGs parsing, the Airflow CLI); not the UI, production-stack, end-to-end
# (dag.test, marker e2e) or benchmark suites.
COMPAT_TESTS ?= tests/unit tests/integration tests/reliability tests/system
COMPAT_PYTEST_ARGS ?= -q -p no:cacheprovider -m "not e2e and not ui and not production" \
	--ignore=tests/system/production --ignore=tests/system/ui

.PHONY: test-compat dist

.venv-compat-%/.installed: pyproject.toml Makefile
	@$(MAKE) --no-print-directory sysdeps
	test -x .venv-compat-$*/bin/python || $(PYTHON) -m venv .venv-compat-$*
	.venv-compat-$*/bin/python -m pip install -q --upgrade pip
	.venv-compat-$*/bin/python -m pip install -q -e '.[test]' 'apache-airflow==$*' $(COMPAT_PINS_$*)
	touch $@

test-compat: $(foreach v,$(COMPAT_AIRFLOW_VERSIONS),.venv-compat-$(v)/.installed)
	@set -e; for v in $(COMPAT_AIRFLOW_VERSIONS); do \
	  echo "== unit and integration tests on Airflow $$v"; \
	  .venv-compat-$$v/bin/python -m pytest $(COMPAT_PYTEST_ARGS) $(PYTEST_ARGS) $(COMPAT_TESTS); \
	done

dist: $(STAMP)
	rm -rf dist
	$(BIN)/python -m build --outdir dist .
	$(BIN)/python -m twine check --strict dist/*
	$(BIN)/python scripts/check_dist.py --airflow-version $(AIRFLOW_VERSION)
