# Quick start:  make demo   (creates .venv when missing, then runs the whole DAG on the demo dataset)
#               make test   (unit tests and end-to-end runs of the DAG on a tiny config)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Install standard wheels from the package index only. Some machines' pip config
# adds a local wheel folder holding a CPU-only torch that torchvision's PyPI wheel
# cannot load with ("operator torchvision::nms does not exist").
PIP_ENVIRONMENT := PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS=

.PHONY: venv demo test lint benchmark clean

$(BIN)/.installed: requirements.txt requirements-no-deps.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_ENVIRONMENT) $(BIN)/python -m pip install --disable-pip-version-check -q -r requirements.txt
	$(PIP_ENVIRONMENT) $(BIN)/python -m pip install --disable-pip-version-check -q --no-deps -r requirements-no-deps.txt
	touch $@

venv: $(BIN)/.installed

demo: venv
	$(BIN)/snakemake --cores all submission

test: venv
	$(BIN)/python -m pytest tests

lint: venv
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile rules
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

benchmark: venv
	$(BIN)/python benchmarks/measure_pipeline.py

clean:
	rm -rf results logs resources .snakemake
