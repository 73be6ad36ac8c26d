# Two commands do everything on a fresh machine: `make demo` (the main job) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup test demo lint colcon clean

setup: $(STAMP)

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) -m pytest

demo: setup
	$(PY) -m demo

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

colcon: setup
	. $(VENV)/bin/activate && colcon build --base-paths . --build-base build --install-base install

clean:
	rm -rf build install log runs demo_output
