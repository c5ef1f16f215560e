# The two commands: `make run` and `make test`. Both install what they need.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
SHARED ?= ../shared
# not a hidden folder: checkov skips paths with hidden parts
BENCH_DIR ?= build/bench

.PHONY: run scan test lint bench bench-service bench-admission bench-peers install clean

$(VENV)/.installed: pyproject.toml scripts/setup-system.sh
	bash scripts/setup-system.sh
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,helm]'
	touch $@

install: $(VENV)/.installed

run: install
	@echo "leitplanke: the governance service on SQLite (./data), seeded with a demo catalog and scans of examples/"
	LEITPLANKE_PROMETHEUS_URL=$${LEITPLANKE_PROMETHEUS_URL:-demo:} $(BIN)/leitplanke serve --demo  # demo: generated runtime series

# examples/bad fails on purpose: exit 1 is what this target shows, not an error of make;
# 2 and above (a usage or policy error, an internal error) fail the target with their code
scan: install
	@echo "leitplanke: scanning the bundled examples with the default packs"
	@$(BIN)/leitplanke scan examples; code=$$?; \
	case $$code in \
	  0) echo "make scan: exit 0, nothing failing at or above --fail-on";; \
	  1) echo "make scan: exit 1, failing results at or above --fail-on (examples/bad is bad on purpose)";; \
	  2) echo "make scan: exit 2, a usage or policy error (see above)"; exit 2;; \
	  *) echo "make scan: exit $$code (see README, exit codes)"; exit $$code;; \
	esac

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy
	$(BIN)/lint-imports

# one pytest process per core (pytest-xdist); work-stealing, as the tests' lengths differ a hundredfold
test: lint
	$(BIN)/pytest -n auto --dist worksteal

bench: install
	@# bytecode for the package: PYTHONDONTWRITEBYTECODE would make every run compile it again
	$(PY) -m compileall -q src > /dev/null
	$(PY) bench/run_bench.py --shared $(SHARED) --work $(BENCH_DIR) $(BENCH_ARGS)

bench-service: install
	@# the 10k-resource scan uploaded to a real `leitplanke serve` on SQLite and PostgreSQL
	$(PY) bench/service_bench.py --shared $(SHARED) --work $(BENCH_DIR)

bench-admission: install
	@# the webhook with every built-in pack under 100, 500 and 1,000 reviews/s (open loop, loopback
	@# TLS); BENCH_ARGS='--soak 100000' for the soak instead
	$(PY) -m compileall -q src > /dev/null
	$(PY) bench/admission_bench.py --shared $(SHARED) --work $(BENCH_DIR) $(BENCH_ARGS)

bench-peers: install
	python3 -m venv $(BENCH_DIR)/checkov-venv
	$(BENCH_DIR)/checkov-venv/bin/pip install -q checkov

clean:
	rm -rf $(VENV) $(BENCH_DIR) .mypy_cache .ruff_cache .pytest_cache
