# The README's two commands: `make train` (train the cat classifier and report) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

$(BIN)/nnscratch: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	# PyTorch is only a reference for tests and benchmarks; 2.13.0 is the CPU build on disk.
	$(BIN)/pip install -q torch==2.13.0 || echo "torch not installed: its reference tests skip"
	touch $@

.PHONY: install train test
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

test: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/pytest -q
