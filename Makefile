# TopicTensor: `make demo` runs the whole weekly refresh through Airflow on a demo corpus;
# `make test` runs the test suite. Both create .venv and install the project first.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export AIRFLOW_HOME := $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__PARALLELISM := 2
export NUMBA_CACHE_DIR := $(CURDIR)/.numba_cache
export TOPICTENSOR_CONFIG := $(CURDIR)/topictensor.yaml
# Airflow's SimpleAuthManager: an editor (may promote/roll back) and a read-only user for the demo UI.
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS := admin:admin,viewer:viewer

.PHONY: install demo test bench bench-levers airflow-init airflow-ui serve clean-demo help

help:
	@echo "make demo   - install, write the demo corpus (weekly partitions), run the topictensor_refresh DAG for"
	@echo "              the weeks before the newest, then again with the newest week; print both summaries"
	@echo "make test   - install (system packages too) and run the test suite (PYTEST_ARGS=... for a subset)"
	@echo "make bench  - trainer benchmark against gensim and PPMI-SVD (prints a table)"
	@echo "make bench-levers - every trainer lever vs the peers and the count table, per corpus shape"
	@echo "make serve  - the explorer and HTTP API over the production model: http://127.0.0.1:8000/"
	@echo "make airflow-ui - Airflow's UI with the model-versions view: http://127.0.0.1:8080/plugin/topictensor-versions"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

$(AIRFLOW_HOME)/.initialised: $(STAMP)
	mkdir -p $(AIRFLOW_HOME)
	$(BIN)/airflow db migrate > $(AIRFLOW_HOME)/migrate.log 2>&1 || (cat $(AIRFLOW_HOME)/migrate.log; exit 1)
	$(BIN)/airflow pools set train 1 "training runs one at a time" > /dev/null
	touch $@

airflow-init: $(AIRFLOW_HOME)/.initialised

demo: $(AIRFLOW_HOME)/.initialised
	$(BIN)/topictensor synth --out .data/raw --partition-by week
	@newest=$$(ls .data/raw/posts | sed -n 's/^dt=//p' | sort | tail -1); \
	if $(BIN)/topictensor versions show > /dev/null 2>&1; then \
	  echo "== run 1 skipped: the store already has a production model (rm -rf .data to start over) =="; \
	else \
	  echo "== run 1: the topictensor_refresh DAG through Airflow (airflow dags test) for the weeks before $$newest =="; \
	  start=$$(date +%s); \
	  $(BIN)/airflow dags test topictensor_refresh -c "{\"as_of\": \"$$newest\"}" > .data/dag-run-1.log 2>&1; rc=$$?; \
	  echo "DAG run finished in $$(( $$(date +%s) - start )) s (log: .data/dag-run-1.log)"; \
	  if [ $$rc -ne 0 ]; then grep -E "ERROR|Error|error:" .data/dag-run-1.log | tail -20; exit $$rc; fi; \
	  $(BIN)/topictensor runs last; \
	fi
	@echo
	@newest=$$(ls .data/raw/posts | sed -n 's/^dt=//p' | sort | tail -1); \
	end=$$(date -u -d "$$newest + 7 days" +%F); \
	echo "== run 2: next week: one more partition (dt=$$newest), window ending $$end; only it is prepared =="; \
	start=$$(date +%s); \
	$(BIN)/airflow dags test topictensor_refresh -c "{\"as_of\": \"$$end\"}" > .data/dag-run.log 2>&1; rc=$$?; \
	echo "DAG run finished in $$(( $$(date +%s) - start )) s (log: .data/dag-run.log)"; \
	if [ $$rc -ne 0 ]; then grep -E "ERROR|Error|error:" .data/dag-run.log | tail -20; exit $$rc; fi
	@$(BIN)/topictensor runs last
	@echo
	@echo "Look at the result:"
	@echo "  $(BIN)/topictensor versions show"
	@echo "  $(BIN)/topictensor neighbours bmw"
	@echo "  $(BIN)/topictensor neighbours зеркало"

serve: $(STAMP)
	$(BIN)/topictensor serve --host 127.0.0.1 --port 8000

airflow-ui: $(AIRFLOW_HOME)/.initialised
	@echo "Airflow UI: http://127.0.0.1:8080/plugin/topictensor-versions (users admin, viewer; passwords in $(AIRFLOW_HOME)/simple_auth_manager_passwords.json.generated)"
	$(BIN)/airflow api-server --host 127.0.0.1 --port 8080

# System packages first (Debian's chromium for the browser tests; installed only when missing,
# as root or through sudo), then the suite. PYTEST_ARGS runs a subset: make test PYTEST_ARGS=tests/search
PYTEST_ARGS ?=
test: $(AIRFLOW_HOME)/.initialised
	.ci/system-packages
	$(BIN)/python -m pytest $(PYTEST_ARGS)

BENCH_STAMP := $(VENV)/.installed-bench
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	touch $@

bench: $(BENCH_STAMP) demo
	@echo "== trainer benchmark: ../shared/bench =="
	$(BIN)/python benchmarks/bench_trainer.py --threads 2 --scaling
	@echo "== trainer benchmark: the demo corpus (its production split) =="
	$(BIN)/python benchmarks/demo_split.py .data/bench-demo
	$(BIN)/python benchmarks/bench_trainer.py --threads 2 --train .data/bench-demo/train.parquet --heldout .data/bench-demo/heldout.parquet
	@echo "== warm start vs cold: ../shared/bench, then the demo corpus =="
	$(BIN)/python benchmarks/bench_warm_start.py
	$(BIN)/python benchmarks/bench_warm_start.py --train .data/bench-demo/train.parquet --heldout .data/bench-demo/heldout.parquet

bench-levers: $(BENCH_STAMP)
	$(BIN)/python benchmarks/corpora.py --out .data/shapes
	nice -n 10 $(BIN)/python benchmarks/bench_levers.py --corpora bench,.data/shapes/short,.data/shapes/generic,.data/shapes/zipf,.data/shapes/synth

clean-demo:
	rm -rf .data .airflow
