# The README's two commands: `make train` (train the cat classifier and report) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

# dev: the tools (ruff, mypy, import-linter, pytest and its plugins, pre-commit);
# test: PyTorch, the reference of the gradient tests (2.13.0 is the CPU build on disk).
$(BIN)/nnscratch: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,test]'
	touch $@

.PHONY: install train test docs
install: $(BIN)/nnscratch

# The data: $$NNSCRATCH_DATA if set; else ../shared/data beside the checkout where it exists
# (this project's machines); else the downloader fetches it into the user's cache.
SHARED_DATA := $(wildcard ../shared/data/train_catvnoncat.h5)
ifeq ($(origin NNSCRATCH_DATA), undefined)
ifneq ($(SHARED_DATA),)
export NNSCRATCH_DATA := $(abspath ../shared/data)
endif
endif

train: install
	$(BIN)/nnscratch train

# Lint and format, the layers contract, the types, then the fast default suite on every core.
test: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/pytest -q -n auto

# The documentation site (mkdocs.yml): warnings are errors (not with --quiet, which hides
# them from the count); the pages land in site/.
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict
