# Two commands on a fresh clone: `make repro` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check
# Offline by design: nothing the pipeline runs may reach a model or dataset hub.
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TRANSFORMERS_NO_ADVISORY_WARNINGS ?= 1
export DVC_NO_ANALYTICS := 1
# dvc.yaml runs `python stages/...`: make it the environment's python.
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: install install-dev repro test test-reliability test-fast test-gpu lint mlflow params results bench bench-gpu clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamp files make installs incremental: they rerun only when the pins change.
$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) install -q -c constraints.txt -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install -q -c constraints.txt -e '.[dev]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

repro: install
	$(BIN)/dvc repro
	@echo
	@echo "Done. Metrics: metrics/ (dvc metrics show); reports: reports/; runs: make mlflow"

test: install-dev
	$(BIN)/python -m pytest -m "not reliability and not gpu"

# Interrupted runs, dead tracking server, determinism, concurrent queues (minutes; CI runs it).
test-reliability: install-dev
	$(BIN)/python -m pytest -m reliability

test-fast: install-dev
	$(BIN)/python -m pytest -m "not slow and not gpu"

# On a machine with a CUDA GPU: the engine, losses and feature cache in bf16 on the device.
test-gpu: install-dev
	$(BIN)/python -m pytest -m gpu

# Style, banned APIs (unsafe torch.load: TID251) and types (mypy over src/ and stages/, pyproject).
lint: install-dev
	$(BIN)/ruff check src stages tests benchmarks
	$(BIN)/ruff format --check src stages tests benchmarks
	$(BIN)/mypy

# Every benchmark in one run on a fresh clone; writes benchmarks/results.{json,md} (~20 min CPU).
bench: install-dev
	$(BIN)/python benchmarks/run_all.py

# On a GPU machine, after make repro: bert-base-shaped fine-tuning in bf16 (tokens/s, % of the
# bf16 peak, against the HF Trainer and fp32), written to benchmarks/gpu_<gpu>.json as it goes.
bench-gpu: install-dev
	$(BIN)/python benchmarks/run_all.py --gpu

# Copy the quick profile's leaderboard (reports/leaderboard.md) into README.md's results section.
results: install
	$(BIN)/python -m textdistill.leaderboard --readme README.md --report reports/leaderboard.md

# params.yaml is generated from conf/ (the quick profile); run after editing conf/.
params: install
	$(BIN)/python -m textdistill.profiles --profile quick --out params.yaml

mlflow: install
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db --host 127.0.0.1 --port 5000

clean:
	rm -rf $(VENV) .pytest_cache
