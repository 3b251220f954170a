# The README's two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ORIGINAL := $(VENV)/.original

.PHONY: demo test lint

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

# The published prompts (the original/* families) for their tests; `make demo` does without.
$(ORIGINAL): $(STAMP)
	$(BIN)/pip install --quiet -e ".[test,original]"
	touch $(ORIGINAL)

demo: $(STAMP)
	$(BIN)/workbench demo

test: $(ORIGINAL)
	$(BIN)/ruff check workbench tests bench
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check workbench tests bench
