# Two commands do all the set-up: `make demo` and `make test`.
# Both create/refresh the local virtual environment (.venv) on first use.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SPARK_ENV := PYSPARK_PYTHON=$(CURDIR)/$(PY) PYSPARK_DRIVER_PYTHON=$(CURDIR)/$(PY) SPARK_LOCAL_IP=127.0.0.1 OMP_WAIT_POLICY=PASSIVE

.PHONY: venv check-java demo test lint unit bench clean help

help:
	@echo "make demo   - generate a world and run the daily decision on the embedded lake"
	@echo "make test   - lint + test suite"
	@echo "make bench  - benchmarks (not part of CI)"

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

lint: venv
	$(VENV)/bin/ruff check sendopt jobs tests benchmarks

unit: venv check-java
	$(SPARK_ENV) $(VENV)/bin/pytest -q --durations=15 tests

test: lint unit

demo: venv check-java
	$(SPARK_ENV) $(VENV)/bin/sendopt demo

bench: venv check-java
	$(SPARK_ENV) $(PY) -m benchmarks $(BENCH)

clean:
	rm -rf $(VENV) build dist *.egg-info lake .pytest_cache .ruff_cache
