# The two commands (see README): `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The client distribution is installed beside the daemon when present.
CLIENT := $(wildcard client/pyproject.toml)

.PHONY: run test lint mypy pytest bench clean

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

pytest: $(BIN)/.installed
	$(BIN)/python -m pytest

bench: $(BIN)/.installed
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
