# lmna-scrna: `make report` builds the whole book, `make test` runs the suite.
# Both create .venv and install the project from requirements.lock on first use (fresh clone ready).

# Python 3.12: python3.12 on PATH, else one pyenv keeps without selecting it (as on these machines).
PYTHON   ?= $(firstword $(foreach p,python3.12 $(sort $(wildcard $(PYENV_ROOT)/versions/3.12*/bin/python3.12 $(HOME)/.pyenv/versions/3.12*/bin/python3.12)),\
              $(shell $(p) -c 'import sys; sys.version_info[:2] == (3, 12) and print(sys.executable)' 2>/dev/null)))
VENV     := .venv
PY       := $(VENV)/bin/python
STAMP    := $(VENV)/.installed
LOCK     := requirements.lock
PIP_VERSION := 26.3
PROFILE  ?= full
JOBS     ?= 2
# two workers: the end-to-end smoke report (scheduled first) runs beside the unit tests
PYTEST_ARGS ?= -n 2 --dist loadfile

export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONHASHSEED ?= 0

.PHONY: setup lock report data test lint book bench lab clean browser

setup: $(STAMP)

# Every package at the version and hash requirements.lock names, nothing resolved at install time;
# a .venv of another Python (an older checkout's 3.11) is made anew.
$(STAMP): pyproject.toml $(LOCK)
	@test -n "$(PYTHON)" || { echo "no Python 3.12 found: install one, or name it with make PYTHON=/path/to/python3.12"; exit 1; }
	@test ! -x $(PY) || $(PY) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' || { echo ">> $(VENV) is not Python 3.12: making it anew"; rm -rf $(VENV); }
	@test -x $(PY) || { echo ">> creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	@echo ">> installing lmna-scrna and the locked environment ($(LOCK)) into $(VENV)"
	$(PY) -m pip install --quiet pip==$(PIP_VERSION)
	$(PY) -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	@touch $(STAMP)

## lock: resolve requirements.lock (every package, hashed, for any platform) from pyproject.toml's pins
lock:
	@test -x $(VENV)/bin/uv || { test -x $(PY) || $(PYTHON) -m venv $(VENV); $(PY) -m pip install --quiet "$$(grep -o 'uv==[0-9.]*' pyproject.toml)"; }
	$(VENV)/bin/uv pip compile pyproject.toml --extra test --universal --python-version 3.12 --generate-hashes \
	  --custom-compile-command 'make lock' --quiet -o $(LOCK)

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
