# lmna-scrna: `make report` builds the whole book, `make test` runs the suite.
# Both create .venv and install the project on first use (fresh clone ready).

PYTHON   ?= python3.11
VENV     := .venv
PY       := $(VENV)/bin/python
STAMP    := $(VENV)/.installed
PROFILE  ?= full
JOBS     ?= 2
# two workers: the end-to-end smoke report (scheduled first) runs beside the unit tests
PYTEST_ARGS ?= -n 2 --dist loadfile

export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONHASHSEED ?= 0

.PHONY: setup report data test lint book bench lab clean browser

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || { echo ">> creating $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo ">> installing lmna-scrna and its pinned dependencies into $(VENV)"
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	@touch $(STAMP)

## report: simulate (or reuse) the default data, run every notebook, build the book
report: setup
	$(VENV)/bin/lmna-scrna report --profile $(PROFILE) --jobs $(JOBS)

## data: write the simulated default data only
data: setup
	$(VENV)/bin/lmna-scrna simulate --size $(PROFILE) --out outputs/data/simulated_$(PROFILE)

## test: lint, type check, then the whole suite (installs Chromium for the browser test when run as root)
test: setup browser lint
	$(PY) -m pytest $(PYTEST_ARGS)

## lint: ruff (lint + import order) and mypy (the library), as configured in pyproject.toml
lint: setup
	$(VENV)/bin/ruff check lib tests benchmarks
	$(VENV)/bin/mypy

browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo ">> installing Debian chromium + chromium-driver for the book test"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	      || echo ">> could not install chromium: the browser test will be skipped"; \
	  else echo ">> chromium not found and not root: the browser test will be skipped"; fi; }

## book: rebuild the Jupyter Book from the executed notebooks (no re-execution) into outputs/book/_build/html
book: setup
	$(VENV)/bin/lmna-scrna book

## bench: speed and memory benchmarks (full size), figures printed beside their references and targets
bench: setup
	$(PY) benchmarks/bench_prepare.py
	$(PY) benchmarks/bench_train.py
	$(PY) benchmarks/bench_replicates.py
	$(PY) benchmarks/bench_worlds_cost.py --jobs $(JOBS)

## lab: JupyterLab in the project's environment
lab: setup
	$(VENV)/bin/jupyter lab notebooks/

clean:
	rm -rf outputs
