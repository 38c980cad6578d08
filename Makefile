# Quartermaster: `make run` serves tools.yaml, `make test` runs every check. Both set up
# the virtualenv on first use, so a fresh clone needs nothing but Python 3.11+.
#
# `make run` speaks MCP on stdout, so nothing else may reach stdout: recipes are silent (@),
# every install step writes to stderr, and make itself does not announce directories.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
PIP := $(BIN)/python -m pip install --disable-pip-version-check --progress-bar off
MAKEFLAGS += --no-print-directory

.PHONY: install run test lint typecheck unit bench clean system-packages

$(BIN)/python:
	@echo "quartermaster: creating the virtualenv $(VENV)" >&2
	@$(PYTHON) -m venv $(VENV) >&2

# What serving needs, nothing more (a first `make run` installs about 80 MB).
$(STAMP): pyproject.toml | $(BIN)/python
	@echo "quartermaster: installing Quartermaster into $(VENV) (the first time takes a while)" >&2
	@$(PIP) -e . >&2
	@touch $@

# Linters, type checker and test libraries, for `make test` and development.
$(TEST_STAMP): $(STAMP)
	@echo "quartermaster: installing the test tools into $(VENV)" >&2
	@$(PIP) -e '.[test]' >&2
	@touch $@

install: $(TEST_STAMP)

# A development master key for the example configuration (production keys come from a
# secret manager; see docs/secrets.md). Never committed: .quartermaster/ is ignored.
.quartermaster/master.key: | $(STAMP)
	@$(BIN)/quartermaster secrets gen-master-key --out $@ >&2

run: $(STAMP) .quartermaster/master.key
	@exec $(BIN)/quartermaster serve --config tools.yaml

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

# The test folders are packages, so one run checks the code, the benchmarks and the tests.
typecheck: $(TEST_STAMP)
	$(BIN)/mypy src bench tests

# The published MCP servers (server-everything, server-postgres) and the OAuth server
# (oidc-provider) the end-to-end tests run against (Node.js 20+).
node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund

# Debian packages the tests use: zsh, for the test that `quartermaster completion zsh` loads,
# and Chromium, which Playwright drives for the console's browser tests.
system-packages:
	@{ command -v zsh && test -x /usr/lib/chromium/chromium; } >/dev/null || \
		{ apt-get update -qq && apt-get install -y -qq zsh chromium >/dev/null; }

# Four workers on two cores: the tests mostly wait on processes and sockets. PYTEST_WORKERS=0
# runs them in one process (for a debugger, or to read the output in order).
PYTEST_WORKERS ?= 4
unit: $(TEST_STAMP) node_modules/.package-lock.json system-packages
	$(BIN)/pytest -n $(PYTEST_WORKERS)

test: lint typecheck unit

bench: $(TEST_STAMP)
	$(BIN)/python bench/proxy_bench.py
	$(BIN)/python bench/redaction_bench.py
	$(BIN)/python bench/grants_bench.py
	$(BIN)/python bench/policy_bench.py
	$(BIN)/python bench/audit_bench.py
	$(BIN)/python bench/credentials_bench.py

clean:
	rm -rf $(VENV) node_modules build *.egg-info .mypy_cache .ruff_cache .pytest_cache
