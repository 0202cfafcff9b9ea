# The two commands of the README: `make demo` and `make test`; `make pretrained`
# trains the bundle of frozen networks the other methods' CPU configs use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# TensorFlow Graphics is installed without its declared dependencies
# (tensorflow-addons, tensorflow-datasets, OpenEXR): see README.md.
TFG := tensorflow-graphics==2021.12.3
PYTEST_WORKERS ?= 2
# --dist loadfile (with the scheduler of tests/conftest.py): a test file, or
# a package sharing session fixtures, runs on one worker, so its fixtures (a
# tiny training, a bundle) are built once, not once per worker.
PYTEST_DIST ?= loadfile
PYTEST_ARGS ?=

.PHONY: demo test venv clean pretrained

venv: $(VENV)/.installed

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m pip install --quiet --no-deps $(TFG)
	touch $@

demo: venv
	$(PY) tools/demo.py --output_dir=demo_out

pretrained: venv
	$(PY) tools/make_pretrained.py --output_dir=pretrained

test: venv
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist $(PYTEST_DIST) --durations=25 $(PYTEST_ARGS) tests

clean:
	rm -rf $(VENV) build *.egg-info demo_out
