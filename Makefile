# Two set-up commands on a fresh machine: `make demo` and `make test` (see README).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test test-fast lint bench

$(BIN)/exprdet: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -c constraints.txt -e '.[dev]'
	@# roboflow depends on opencv-python-headless; two packages would own cv2/, keep only the full 4.x one.
	$(BIN)/pip uninstall -y opencv-python-headless
	$(BIN)/pip install -c constraints.txt --force-reinstall --no-deps "$$($(BIN)/pip freeze | grep -i '^opencv-python==')"
	touch $(BIN)/exprdet

install: $(BIN)/exprdet

demo: install
	$(BIN)/exprdet demo

test: install
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not slow"

lint: install
	$(BIN)/ruff check detector tools tests
