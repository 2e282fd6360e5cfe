# Every command a reader or maintainer needs. `make book` and `make test` set everything up
# on a fresh machine: they create .venv, install the pinned requirements and then do their job.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed

# The backend is chosen here rather than in ~/.keras/keras.json, so every run is explicit.
export KERAS_BACKEND ?= tensorflow
export PYTHONHASHSEED := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1

NOTEBOOKS := $(sort $(wildcard book/*.ipynb))
# A reader's training runs show Keras' progress bar; runs whose outputs are compared or timed
# stay quiet (helpers.environment.training_verbosity reads this).
nbval execute bench: export IMAGE_BOOK_PROGRESS := 0
# Strict nbval, with numbers compared within the tolerance a cell's tags declare
# (tests/nbval_tolerance.py) after the named sanitizers of tests/nbval_sanitize.cfg.
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
         -p tests.nbval_tolerance --nbval-cell-timeout 600 -p no:cacheprovider

.PHONY: help venv data book test unit unit-jax unit-torch nbval site browser browser-deps lab execute bench test-backends lint clean

help:
	@echo "make book     build the website into _build/html from the committed notebooks"
	@echo "make test     unit tests on all three backends, strict nbval over every notebook,"
	@echo "              -W site build, browser test"
	@echo "make lab      open the chapters in JupyterLab (BACKEND=jax or torch for the others)"
	@echo "make execute  re-run every notebook in place to refresh its committed outputs"
	@echo "make bench    time every notebook and the site build; fail if over budget"
	@echo "make test-backends  every notebook on JAX and on PyTorch (lax nbval), results to"
	@echo "              book/backends.json for the run-times page"
	@echo "make data     download and verify the data sets into the cache"
	@echo "make lint     ruff over helpers/, booktools/, tests/ and the notebooks"
	@echo "make clean    remove _build (keeps .venv and the data cache)"

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip==26.3
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip check
	@# no "would you like to get Jupyter news?" pop-up at a reader's first `make lab`
	$(BIN)/jupyter labextension disable --level=sys_prefix \
	    "@jupyterlab/apputils-extension:announcements" >/dev/null
	@touch $(STAMP)

# The other two Keras backends, each in its own venv (.venv-jax, .venv-torch) with the same
# pins plus its own (requirements-jax.txt, requirements-torch.txt).
.venv-%/.installed: requirements.txt requirements-%.txt pyproject.toml
	@test -x .venv-$*/bin/python || $(PYTHON) -m venv .venv-$*
	.venv-$*/bin/python -m pip install --quiet --upgrade pip==26.3
	.venv-$*/bin/python -m pip install --quiet -r requirements-$*.txt
	.venv-$*/bin/python -m pip check
	.venv-$*/bin/jupyter labextension disable --level=sys_prefix \
	    "@jupyterlab/apputils-extension:announcements" >/dev/null
	@touch $@

venv: $(STAMP)

data: $(STAMP)
	$(PY) -m helpers.data mnist sunspots

book: $(STAMP)
	$(BIN)/jupyter-book build . --quiet
	@echo
	@echo "The book is built. Open $(CURDIR)/_build/html/index.html in a browser."

unit: $(STAMP)
	$(PY) -m pytest tests -m "not browser"

# The unit tests on JAX and on PyTorch (`make unit` is TensorFlow).
unit-jax unit-torch: unit-%: .venv-%/.installed
	KERAS_BACKEND=$* .venv-$*/bin/python -m pytest tests -m "not browser" -p no:cacheprovider

nbval: $(STAMP) data
	$(PY) -m pytest $(NBVAL) $(NOTEBOOKS)

site: $(STAMP)
	rm -rf _build
	$(BIN)/jupyter-book build . -W --keep-going

browser: $(STAMP) browser-deps
	$(PY) -m pytest tests -m browser

# The browser test drives Debian's Chromium (never a downloaded browser); a CJK font lets its
# screenshots show the Chinese section titles. As root on Debian, install them; otherwise say
# in one line what to run. `make test` checks this first, before half an hour of notebooks.
browser-deps:
	@if command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi "wqy\|noto.*cjk"; then \
	    exit 0; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Debian's chromium and fonts-wqy-zenhei for the browser test"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null; \
	else \
	    echo "make test needs Chromium and a CJK font for the browser test: run" \
	         "'sudo apt-get install chromium fonts-wqy-zenhei', then make test again." >&2; \
	    exit 1; \
	fi

test: browser-deps lint unit unit-jax unit-torch nbval site browser
	@echo "make test: every check passed."

# `make lab BACKEND=jax` (or torch) opens the chapters on that backend, from its own venv.
BACKEND ?= tensorflow
LAB_VENV := $(if $(filter tensorflow,$(BACKEND)),$(VENV),.venv-$(BACKEND))

lab: $(LAB_VENV)/.installed
	KERAS_BACKEND=$(BACKEND) $(LAB_VENV)/bin/jupyter lab book/01_background.ipynb

execute: $(STAMP) data
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace \
	    --ExecutePreprocessor.timeout=900 $(or $(NB),$(NOTEBOOKS))
	@# the numbers the prose quotes, stored with its cells for JupyterLab (helpers.prose)
	$(PY) -m booktools.expressions $(or $(NB),$(NOTEBOOKS))

bench: $(STAMP) data
	$(PY) -m booktools.bench $(BENCH_ARGS)

# Every notebook top to bottom on JAX and on PyTorch, each from its own venv, under lax nbval
# (every cell runs and every assertion holds; outputs are not compared). Writes
# book/backends.json, which the run-times page shows; commit it. About 80 minutes on 2 cores.
# BACKENDS_ARGS="--update book/05_4_compute.ipynb" re-runs only the notebooks it names.
test-backends: $(STAMP) data .venv-jax/.installed .venv-torch/.installed
	$(PY) -m booktools.backends $(BACKENDS_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check helpers booktools tests book

clean:
	rm -rf _build
