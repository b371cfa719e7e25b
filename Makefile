# Two commands on a fresh machine (Python 3.11 and Java 17 present):
#   make demo   - virtualenv, install, demo data, run the daily DAG through Airflow for two days, print the
#                 profile, the audiences (sizes, day-over-day changes) and the scene summary
#   make test   - virtualenv, install, run the test suite
PYTHON ?= python3
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
JARS := $(CURDIR)/.jars
JARS_STAMP := $(JARS)/.resolved
DEMO_USERS ?= 50000
DEMO_DATA := $(CURDIR)/data/demo
DEMO_LOGICAL_DATE ?= 2026-11-25
PYTEST_ARGS ?=

export PATH := $(BIN):$(PATH)
export AIRFLOW_HOME := $(CURDIR)/.airflow
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__UNIT_TEST_MODE := False
export AIRFLOW_CONN_SPARK_DEFAULT := {"conn_type": "spark", "host": "local[2]", "extra": {"deploy-mode": "client"}}
export GX_ANALYTICS_ENABLED := false
export TAGFACTORY_WAREHOUSE ?= $(CURDIR)/warehouse
export TAGFACTORY_SOURCES_ROOT ?= $(DEMO_DATA)
export TAGFACTORY_TARGET ?= $(CURDIR)/target
export TAGFACTORY_EXPORTS_ROOT ?= $(CURDIR)/deliveries
export TAGFACTORY_HIVE_LOCATION_ROOT ?= $(CURDIR)/hive
export TAGFACTORY_JARS ?= $(CURDIR)/.jars

.PHONY: demo-dag-runs demo test install jars lint typecheck demo-data clean help bench-validate bench-audiences bench-gate bench-startup

help:
	@echo "make demo   - install, generate demo data, run the daily DAG with Airflow (two days), show the profile, audiences and scenes"
	@echo "make bench-audiences - 100 audiences in one pass vs one query per audience (1M users)"
	@echo "make bench-startup - a small Delta spark-submit with and without the CDS archive and C1-only JVM options"
	@echo "make bench-gate - quality gate cost vs the build (demo data, 10M-row synthetic profile)"
	@echo "make test   - install, validate tag_definitions/ and run the tests"
	@echo "make bench-validate - time tagfactory validate on 2,000 generated tags"
	@echo "make lint   - ruff; make typecheck - mypy"

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24" setuptools wheel
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip check
	touch $(STAMP)

install: $(STAMP) $(JARS_STAMP)

# JVM jar sets (jvm/*/pom.xml) from Maven Central into .jars/<set>/; offline once resolved
$(JARS_STAMP): $(STAMP) $(wildcard jvm/*/pom.xml jvm/*/*.json) $(shell find jvm -path "*/src/*" -type f) jvm/resolve.py jvm/cds.py jvm/cds_workload.py
	$(BIN)/python jvm/resolve.py --out $(JARS)
	$(BIN)/python jvm/cds.py --out $(JARS)
	touch $@

jars: $(JARS_STAMP)

$(DEMO_DATA)/.complete-$(DEMO_USERS): | $(STAMP)
	$(BIN)/tagfactory demo-data --out $(DEMO_DATA) --users $(DEMO_USERS)
	rm -f $(DEMO_DATA)/.complete-*
	touch $@

demo-data: $(STAMP) $(DEMO_DATA)/.complete-$(DEMO_USERS)

demo: $(STAMP) $(JARS_STAMP) $(DEMO_DATA)/.complete-$(DEMO_USERS)
	@start=$$(date +%s); \
	$(BIN)/airflow db migrate > $(CURDIR)/.airflow-migrate.log 2>&1 || { cat $(CURDIR)/.airflow-migrate.log; exit 1; }; \
	$(BIN)/tagfactory compile --target $(TAGFACTORY_TARGET) > $(CURDIR)/.demo-compile.log 2>&1 \
	  || { cat $(CURDIR)/.demo-compile.log; exit 1; }; \
	echo "== compiled the manifest (the DAG reads its exports when it is parsed)"; \
	snapshot=$$(date -d "$(DEMO_LOGICAL_DATE) -1 day" +%F); \
	$(BIN)/python -m tests.servers.demo --workdir $(CURDIR)/.demo-servers --manifest $(TAGFACTORY_TARGET)/manifest.json \
	  --query "SELECT audience, count(*) AS members FROM tagfactory_exports.audience_members WHERE dt = '$$snapshot' GROUP BY audience ORDER BY audience" \
	  --query "SELECT count(*) AS profiles FROM tagfactory.profile_user WHERE dt = DATE'$$snapshot'" \
	  --then "$(BIN)/tagfactory show --entity user" \
	  --then "$(BIN)/tagfactory show-audiences --entity user" \
	  --then "$(BIN)/tagfactory lookup u0000097" \
	  --then "$(BIN)/tagfactory effects" \
	  --then "$(BIN)/tagfactory show-exports" \
	  --then "$(BIN)/tagfactory exports" \
	  -- $(MAKE) --no-print-directory demo-dag-runs || exit 1; \
	echo; $(BIN)/tagfactory catalog --out $(TAGFACTORY_TARGET)/catalog || exit 1; \
	echo "lineage events: $(TAGFACTORY_WAREHOUSE)/_lineage/openlineage.jsonl"; \
	echo "quality results: Delta table $(TAGFACTORY_WAREHOUSE)/quality_results"; \
	echo "export receipts: Delta table $(TAGFACTORY_WAREHOUSE)/export_receipts; file drops under $(CURDIR)/deliveries"; \
	echo "Data Docs (open in a browser): file://$(TAGFACTORY_WAREHOUSE)/_quality/gx/uncommitted/data_docs/local_site/index.html"; \
	echo "demo finished in $$(( $$(date +%s) - start ))s (Airflow log: .airflow-demo.log)"

# the two DAG runs of the demo (make demo runs this with the Hive metastore up)
demo-dag-runs:
	@previous=$$(date -d "$(DEMO_LOGICAL_DATE) -1 day" +%F); \
	echo "== airflow dags test tag_factory_daily $$previous (the day before, for day-over-day changes)"; \
	$(BIN)/airflow dags test tag_factory_daily $$previous > $(CURDIR)/.airflow-demo-previous.log 2>&1 \
	  || { tail -n 80 $(CURDIR)/.airflow-demo-previous.log; echo "DAG run failed; full log: .airflow-demo-previous.log"; exit 1; }; \
	grep -E "state=|DagRun Finished" $(CURDIR)/.airflow-demo-previous.log | tail -n 1 || true; \
	echo "== airflow dags test tag_factory_daily $(DEMO_LOGICAL_DATE)"; \
	$(BIN)/airflow dags test tag_factory_daily $(DEMO_LOGICAL_DATE) > $(CURDIR)/.airflow-demo.log 2>&1 \
	  || { tail -n 80 $(CURDIR)/.airflow-demo.log; echo "DAG run failed; full log: .airflow-demo.log"; exit 1; }; \
	grep -E "\[tagfactory|compiled entity|plan written" $(CURDIR)/.airflow-demo.log | sed -E -e 's/^.*(\[tagfactory|compiled entity|plan written)/\1/' -e 's/ \[airflow\.[^]]*\] loc=.*$$//' || true; \
	grep -E "state=|DagRun Finished" $(CURDIR)/.airflow-demo.log | tail -n 3 || true

test: $(STAMP) $(JARS_STAMP)
	tests/servers/ensure_chromium.sh
	tests/servers/ensure_postgres.sh
	$(BIN)/tagfactory validate tag_definitions
	# C1 only and the serial GC: the tests' Spark JVMs run short jobs on small data (benchmarks/spark_startup.py)
	SPARK_SUBMIT_OPTS="$${SPARK_SUBMIT_OPTS:--XX:TieredStopAtLevel=1 -XX:+UseSerialGC}" $(BIN)/python -m pytest --durations=60 $(PYTEST_ARGS)

bench-validate: $(STAMP)
	$(BIN)/python benchmarks/validate_2000.py

bench-audiences: $(STAMP)
	$(BIN)/python benchmarks/audiences_100.py

bench-startup: $(STAMP) $(JARS_STAMP)
	$(BIN)/python benchmarks/spark_startup.py

bench-gate: $(STAMP)
	$(BIN)/python benchmarks/gate_cost.py demo --gx
	$(BIN)/python benchmarks/gate_cost.py synthetic --gx

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf warehouse target .airflow .jars .airflow-*.log data/demo .pytest_cache deliveries hive .demo-servers
