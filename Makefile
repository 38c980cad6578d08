# Quartermaster: `make run` serves tools.yaml, `make test` runs every check. Both set up
# the virtualenv on first use, so a fresh clone needs nothing but Python 3.11+.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# A development master key for the example configuration (production keys come from a
# secret manager; see docs/secrets.md). Never committed: .quartermaster/ is ignored.
.quartermaster/master.key: | $(STAMP)
	$(BIN)/quartermaster secrets gen-master-key --out $@

run: install .quartermaster/master.key
	$(BIN)/quartermaster serve --config tools.yaml

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

# Each test folder may have its own conftest.py, so mypy checks the folders one by one.
typecheck: install
	$(BIN)/mypy src bench
	$(BIN)/mypy tests/conftest.py tests/harness.py
	for dir in tests/*/; do $(BIN)/mypy "$$dir" || exit 1; done

# The published @modelcontextprotocol/server-everything, for end-to-end tests (Node.js 20+).
node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund

unit: install node_modules/.package-lock.json
	$(BIN)/pytest

test: lint typecheck unit

bench: install
	$(BIN)/python bench/proxy_bench.py
	$(BIN)/python bench/redaction_bench.py
	$(BIN)/python bench/grants_bench.py
	$(BIN)/python bench/policy_bench.py
	$(BIN)/python bench/audit_bench.py
	$(BIN)/python bench/credentials_bench.py

clean:
	rm -rf $(VENV) node_modules build *.egg-info .mypy_cache .ruff_cache .pytest_cache
