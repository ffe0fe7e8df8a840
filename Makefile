# Two commands do all the set-up: `make demo` and `make test`.
# Both create/refresh the local virtual environment (.venv) on first use.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SPARK_ENV := PYSPARK_PYTHON=$(CURDIR)/$(PY) PYSPARK_DRIVER_PYTHON=$(CURDIR)/$(PY) SPARK_LOCAL_IP=127.0.0.1 OMP_WAIT_POLICY=PASSIVE

JARS   := jars/lib
JARS_STAMP := $(JARS)/.fetched

.PHONY: venv jars check-java demo serve test lint unit bench clean help

help:
	@echo "make demo   - generate a world and run the daily decision on the embedded lake"
	@echo "             (ARGS=\"--set lake.backend=spark_delta\": the same on Spark's Delta, jars from make jars)"
	@echo "make serve  - the web service and operations page on http://127.0.0.1:8080/ (tokens: docs/service.md)"
	@echo "make test   - lint + test suite"
	@echo "make bench  - benchmarks (not part of CI)"
	@echo "make jars   - fetch the pinned Delta / SynapseML jars (jars/pom.xml) into jars/lib/"

check-java:
	@command -v java >/dev/null 2>&1 || { echo "ERROR: Java not found. sendopt needs Java 17 (e.g. apt-get install openjdk-17-jre-headless)."; exit 1; }
	@v=$$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1); \
	 if [ -z "$$v" ] || [ "$$v" -lt 11 ]; then echo "ERROR: Java $$v is too old; Spark 3.5 needs Java 11 or 17 (17 recommended)."; exit 1; fi

$(STAMP): setup.py requirements/constraints.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "ERROR: $(PYTHON) not found (set PYTHON=...)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements/constraints.txt -e ".[local,dev]"
	touch $(STAMP)

venv: $(STAMP)

# Delta Lake + SynapseML LightGBM jars (pinned in jars/pom.xml) from Maven Central, fetched once with
# mvn into jars/lib/ (git-ignored). Without mvn or network this warns and goes on: the tests that need
# the jars then skip with one line saying so, and the embedded lake / barrier trainer work as before.
$(JARS_STAMP): jars/pom.xml
	@if ! command -v mvn >/dev/null 2>&1; then \
	  echo "WARNING: mvn not found: Delta/SynapseML jars not fetched (apt-get install maven); spark_delta and synapseml tests will skip"; \
	else \
	  rm -rf $(JARS).tmp && \
	  if mvn -q -B -f jars/pom.xml dependency:copy-dependencies -DoutputDirectory=$(CURDIR)/$(JARS).tmp; then \
	    rm -rf $(JARS) && mv $(JARS).tmp $(JARS) && touch $(JARS_STAMP) && echo "jars: $$(ls $(JARS) | wc -l) jars in $(JARS)/"; \
	  else \
	    rm -rf $(JARS).tmp; echo "WARNING: mvn could not fetch jars/pom.xml's jars (no Maven Central?); spark_delta and synapseml tests will skip"; \
	  fi; \
	fi

jars: $(JARS_STAMP)

lint: venv
	$(VENV)/bin/ruff check sendopt jobs tests benchmarks

# Two pytest-xdist workers (two Spark sessions) keep both cores busy; tests/conftest.py groups the tests
# that share a world onto one worker. TEST_WORKERS=0 runs them in one process.
TEST_WORKERS ?= 2
unit: venv jars check-java
	$(SPARK_ENV) $(VENV)/bin/pytest -q --durations=15 -n $(TEST_WORKERS) --dist loadgroup tests

test: lint unit

demo: venv jars check-java
	$(SPARK_ENV) $(VENV)/bin/sendopt demo $(ARGS)

serve: venv jars check-java
	$(SPARK_ENV) $(VENV)/bin/sendopt serve $(ARGS)

bench: venv jars check-java
	$(SPARK_ENV) $(PY) -m benchmarks $(BENCH)

clean:
	rm -rf $(VENV) $(JARS) $(JARS).tmp build dist *.egg-info lake .pytest_cache .ruff_cache
