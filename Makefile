# One-command set-up: every target bootstraps .venv/ and checks Java before it runs.
VENV := .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DURATION ?=
LINES ?=
FULL ?=
ROUNDS ?=

.PHONY: demo test test-unit bench bench-fleet bench-proxy kafka java maven connector kafka-broker chromium clean

$(PYTHON):
	python3 -m venv $(VENV)

$(STAMP): pyproject.toml | $(PYTHON)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# PyFlink 2.x needs Java 11 or newer, and the Java reader (pipelines/java) is compiled on
# first use: install Debian's JDK 17 when java or javac is missing or too old.
java:
	@v=$$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1); \
	if [ -z "$$v" ] || [ "$$v" -lt 11 ] || ! command -v javac >/dev/null; then \
	  echo "Java >= 11 with javac not found (java '$$v'): installing openjdk-17-jdk-headless"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq openjdk-17-jdk-headless; \
	fi

# Flink's Kafka connector and the Kafka broker come from Maven Central through Maven's client;
# install Debian's maven when mvn is missing.
maven:
	@if ! command -v mvn >/dev/null; then \
	  echo "mvn not found: installing Debian's maven for the Kafka connector and broker"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq maven; \
	fi

# Fetched once into the user's cache, checked (pinned SHA-256; Maven's strict checksums): the
# job finds the connector there, so a run needs no network.
connector: $(STAMP) maven
	@$(PYTHON) -m modelmon.pipelines.kafka_connector >/dev/null

# The broker's class path, for the tests and `make kafka`.
kafka-broker: $(STAMP) java maven
	@$(PYTHON) -c "from tests.support.kafka_broker import broker_libraries; broker_libraries()"

# A Kafka broker on 127.0.0.1:9092 with a topic `predictions` of 3 partitions, until Ctrl-C.
kafka: kafka-broker
	$(PYTHON) -m tests.support.kafka_broker

# The status-page test drives headless Chromium; install Debian's when none is there.
chromium:
	@if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then \
	  echo "chromium not found: installing Debian's chromium for the browser test"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; \
	fi

demo: $(STAMP) java connector
	$(VENV)/bin/modelmon demo $(if $(DURATION),--duration $(DURATION))

# The whole suite, its layers in order: unit, job, system (tests/conftest.py).
test: $(STAMP) java connector kafka-broker chromium
	$(PYTHON) -m pytest -q --durations=15

# The fast layer alone: no Flink job, no browser.
test-unit: $(STAMP) java
	$(PYTHON) -m pytest -q -m unit

# Throughput and memory of the job and of Flink's own ceiling; FULL=1 for 1,000,000 lines.
bench: $(STAMP) java
	$(PYTHON) -m benchmarks.job_bench $(if $(FULL),--full) $(if $(LINES),--lines $(LINES)) $(if $(ROUNDS),--rounds $(ROUNDS)) $(if $(CATEGORICAL),--categorical-only)

# The job over fleets of 1,000 and 10,000 endpoints x 20 features, default settings (about 15 minutes).
bench-fleet: $(STAMP) java
	$(PYTHON) -m benchmarks.fleet_bench $(if $(ENDPOINTS),--endpoints $(ENDPOINTS))

# The proxy under concurrent Grafana queries (MIX=pages: the status pages): 1,000 endpoints, a day of 1-minute data.
bench-proxy: $(STAMP)
	$(PYTHON) -m benchmarks.proxy_bench $(if $(MIX),--mix $(MIX) --workdir .modelmon/proxy-bench-$(MIX))

clean:
	rm -rf $(VENV) .modelmon
