# adoption-kit developer entry points.  `make` (or `make help`) lists the targets.
#
# Everything runs from the project virtualenv $(VENV), built from the pinned
# requirements.lock.  Nothing is installed or registered outside $(VENV):
# no `pip --user`, no global Jupyter kernel specs (the venv's own ipykernel
# provides the `python3` kernel when Jupyter runs from the venv).
#
# Override on the command line, e.g.  make test PYTEST_ARGS="-x -k metrics"
#                                     make lab LAB_ARGS="--no-browser --allow-root"

PYTHON ?= python3.11
VENV ?= .venv
PYTEST_ARGS ?=
LAB_ARGS ?=

SAMPLE_DIR := data/sample
REPORTS_DIR := reports
STAMP := $(VENV)/.installed
VPY := $(VENV)/bin/python
PIP := $(VPY) -m pip
PIP_FLAGS := --quiet --require-virtualenv

export PIP_DISABLE_PIP_VERSION_CHECK := 1

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
.PHONY: help venv report test test-fast lint lab notebooks sample validate metrics bench bench-pipeline bench-report bench-report-floor bench-insights bench-charts bench-first-cell bench-json lock clean distclean

help: ## Show this list of targets
	@echo 'Usage: make <target> [PYTHON=$(PYTHON)] [VENV=$(VENV)] [PYTEST_ARGS=...] [LAB_ARGS=...]'
	@echo
	@awk 'BEGIN { FS = ":[^#]*## " } /^[A-Za-z][A-Za-z0-9_-]*:[^=]*## / { printf "  %-10s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

venv: $(STAMP) ## Create/refresh the venv (.venv) from requirements.lock, editable adoption-kit

# Redone only when the lock or pyproject.toml changes.  Upgrades nothing that
# is unpinned (the venv keeps the pip that ships with $(PYTHON)).
$(STAMP): requirements.lock pyproject.toml
	@echo '>> $(VENV): installing requirements.lock with $(PYTHON)'
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install $(PIP_FLAGS) -r requirements.lock
	$(PIP) install $(PIP_FLAGS) --no-deps -e .
	@touch $@

report: $(STAMP) ## Render the sample report into reports/ (prints the index.html path)
	$(VENV)/bin/adoption-kit report $(SAMPLE_DIR) --out $(REPORTS_DIR)

test: lint ## The whole suite: lint, then every test incl. kernels, nbval and the browser (what CI runs)
	$(VPY) -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP) ## The edit-test loop: every test except kernels, nbval and the browser (under a minute)
	$(VPY) -m pytest -m "not kernel and not browser" -n 2 tests $(PYTEST_ARGS)

lint: $(STAMP) ## ruff, mypy and the import-layer contract (pyproject.toml [tool.ruff], [tool.mypy], [tool.importlinter])
	$(VENV)/bin/ruff check adoption_kit tests benchmarks tools
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

lab: $(STAMP) ## Start JupyterLab on notebooks/ with the project venv's python3 kernel
	JUPYTER_PREFER_ENV_PATH=1 $(VENV)/bin/jupyter lab --notebook-dir=notebooks $(LAB_ARGS)

sample: $(STAMP) ## Regenerate data/sample (50 synthetic customers, seed 7)
	$(VENV)/bin/adoption-kit sample $(SAMPLE_DIR) --customers 50 --seed 7

validate: $(STAMP) ## Validate the exports in data/sample
	$(VENV)/bin/adoption-kit validate $(SAMPLE_DIR)

metrics: $(STAMP) ## Write customer-level metrics of data/sample to reports/customers.csv
	$(VENV)/bin/adoption-kit metrics $(SAMPLE_DIR) --level customer --out $(REPORTS_DIR)/customers.csv

notebooks: $(STAMP) ## Re-execute the report templates on the sample to refresh their committed (nbval) outputs
	$(VPY) tools/execute_templates.py

bench: $(STAMP) ## Run the benchmarks (benchmarks/run.py; figures go to BENCHMARKS.md)
	$(VPY) benchmarks/run.py

bench-pipeline: $(STAMP) ## Benchmark load, compute, prepare (cold, warm) at 1k/20k/200k customers vs bare polars and pandas (~20 min, ~6 GB RAM; SIZES: see BENCHMARKS.md)
	$(VPY) benchmarks/pipeline_bench.py

bench-charts: $(STAMP) ## Benchmark drawing a customer report's static charts: the measuring font vs DejaVu Sans
	$(VPY) benchmarks/chart_font_bench.py --customers 10 --repeat 3 --write

bench-insights: $(STAMP) ## Benchmark loading a 13-month, 20,000-customer Insights OfficeUsage download vs bare polars
	$(VPY) benchmarks/insights_bench.py

bench-report: $(STAMP) ## Benchmark a large book's reports: warm vs fresh kernels, 2,000 reports, file sizes (~80 min; BENCHMARKS.md)
	$(VPY) benchmarks/report_scale_bench.py

bench-report-floor: $(STAMP) ## Benchmark `adoption-kit report` against the papermill floor, sample and book (~20 min)
	$(VPY) benchmarks/report_bench.py

BOOK ?= benchmarks/out/book-200000
bench-first-cell: $(STAMP) ## The portfolio notebook's first cell on a large book: cold, parsed cache, analysis cache (BOOK=folder; made if missing)
	test -d $(BOOK) || $(VENV)/bin/adoption-kit sample $(BOOK) --customers 200000 --seed 1 --page-size 10000
	$(VPY) benchmarks/first_cell_bench.py $(BOOK) --repeat 2 --write

bench-json: $(STAMP) ## Peak memory of hostile but legal JSON pages (16,000 keys of their own; a 256 MiB field)
	$(VPY) benchmarks/json_memory_bench.py

# Procedure: edit the pins in requirements.txt (keep pyproject.toml's
# dependencies and environment.yml in step; tests/test_environment.py checks),
# then `make lock`.  It resolves requirements.txt in a fresh throwaway venv,
# runs `pip check`, and writes that venv's `pip freeze` to requirements.lock.
# The next `make venv/test/...` reinstalls $(VENV) because the lock changed.
lock: ## Re-resolve requirements.lock from requirements.txt in a throwaway venv
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	echo ">> resolving requirements.txt in $$tmp/venv"; \
	$(PYTHON) -m venv "$$tmp/venv"; \
	"$$tmp/venv/bin/python" -m pip install $(PIP_FLAGS) -r requirements.txt; \
	"$$tmp/venv/bin/python" -m pip check; \
	"$$tmp/venv/bin/python" -m pip freeze --exclude-editable > "$$tmp/requirements.lock"; \
	cp "$$tmp/requirements.lock" requirements.lock; \
	echo ">> requirements.lock: $$(wc -l < requirements.lock) pins"; \
	git diff --stat -- requirements.lock 2>/dev/null || true

clean: ## Remove rendered reports (keeps reports/.gitkeep), the parsed-input cache, test and notebook caches
	find $(REPORTS_DIR) -mindepth 1 -maxdepth 1 ! -name .gitkeep -exec rm -rf -- {} +
	rm -rf -- .cache .pytest_cache .hypothesis build benchmarks/out
	find . \( -path ./.git -o -path ./$(VENV) \) -prune -o \
		-type d \( -name __pycache__ -o -name .ipynb_checkpoints \) -prune -exec rm -rf -- {} +

distclean: clean ## clean, and also remove the venv and the egg-info
	$(if $(strip $(VENV)),rm -rf -- $(VENV))
	rm -rf -- *.egg-info
