# The two commands (see README): `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The client distribution is installed beside the daemon when present.
CLIENT := $(wildcard client/pyproject.toml)

.PHONY: run test lint mypy pytest bench clean chromium

$(BIN)/.installed: pyproject.toml $(CLIENT)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]' $(if $(CLIENT),-e ./client)
	touch $@

run: $(BIN)/.installed
	$(BIN)/ingestd serve

test: lint mypy pytest

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

mypy: $(BIN)/.installed
	$(BIN)/mypy
	$(if $(CLIENT),cd client && ../$(BIN)/mypy)

# Two or more workers (pytest-xdist), each with its own throwaway PostgreSQL: most tests
# wait on the database, a server or a browser, so the suite takes about half as long.
pytest: $(BIN)/.installed chromium
	$(BIN)/python -m pytest -n auto --maxprocesses 4

# The dashboard's browser tests drive Debian's chromium through Playwright (Playwright's own
# browser download does not work everywhere): installed when missing, on Debian as root.
chromium:
	@command -v chromium >/dev/null || test -x /usr/bin/chromium || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "chromium is not installed: the dashboard's browser tests will say why they skip"

bench: $(BIN)/.installed
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
