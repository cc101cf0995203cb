# Quick start:  make demo   (creates .venv when missing, then runs the whole DAG on the demo dataset)
#               make test   (unit tests and end-to-end runs of the DAG on a tiny config)
#               make test-fast (the unit tier only: the inner loop, about 2 minutes on 2 cores)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Install standard wheels from the package index only. Some machines' pip config
# adds a local wheel folder holding a CPU-only torch that torchvision's PyPI wheel
# cannot load with ("operator torchvision::nms does not exist").
PIP_ENVIRONMENT := PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS=

.PHONY: venv demo predict report test test-fast lint benchmark clean

$(BIN)/.installed: requirements.txt requirements-no-deps.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_ENVIRONMENT) $(BIN)/python -m pip install --disable-pip-version-check -q -r requirements.txt
	$(PIP_ENVIRONMENT) $(BIN)/python -m pip install --disable-pip-version-check -q --no-deps -r requirements-no-deps.txt
	# The project itself, editable: scripts and tests import abawflow and models plainly.
	$(PIP_ENVIRONMENT) $(BIN)/python -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	touch $@

venv: $(BIN)/.installed

demo: venv
	$(BIN)/snakemake --cores all submission bundle

# The demo's models on your videos (make demo first): make predict VIDEO=clip.mp4 (a file or a folder).
predict: venv
	@test -n "$(VIDEO)" || { echo "usage: make predict VIDEO=path/to/video.mp4 (a file or a folder of videos)"; exit 2; }
	$(BIN)/abawflow predict $(VIDEO) --bundle results/bundle --output predictions --overlay

# The report of the finished run (make demo first): one self-contained HTML file.
report: venv
	$(BIN)/snakemake --cores all submission --report report.html

test: venv
	$(BIN)/python -m pytest tests

test-fast: venv
	$(BIN)/python -m pytest -m unit tests

lint: venv
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile rules
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

benchmark: venv
	$(BIN)/python benchmarks/measure_pipeline.py

clean:
	rm -rf results logs resources .snakemake report.html
