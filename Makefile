# One entry point for people and CI. `make run` and `make test` install on first use.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ROLE ?= officer
SUB ?=
PYTEST_ARGS ?=
# Test processes (pytest-xdist, one test file at a time each; see tests/conftest.py).
# PYTEST_WORKERS=0 runs everything in one process (for --pdb, or to compare timings).
PYTEST_WORKERS ?= 2

.PHONY: install run test bench fuzz lint token migrate audit-verify clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements/broker.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python 3.11 is required)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r requirements/broker.txt
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m kernel.devbroker --check
	@touch $(STAMP)

run: $(STAMP)
	$(PY) -m deploy.devrun

test: $(STAMP)
	@$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests"; fi; exit $$rc

bench: $(STAMP)
	$(PY) -m bench

# Schemathesis against every service's API and the gateway's own routes, many more cases than
# the bounded profile `make test` runs; prints a summary, writes bench/results/fuzz.json.
# FUZZ_SEED=<n> replays a run, FUZZ_MAX_EXAMPLES=<n> per operation, FUZZ_DATABASE=sqlite.
fuzz: $(STAMP)
	FUZZ_PROFILE=long FUZZ_RESULTS=bench/results/fuzz.json $(PY) -m pytest -n $(PYTEST_WORKERS) \
		--dist loadfile tests/fuzz $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy kernel services gateway deploy bench

token: $(STAMP)
	@$(PY) -m kernel.auth.devtoken --role '$(ROLE)' --sub '$(SUB)'

# Recompute every service's audit hash chain (SERVICE=permits for one); exit 1 at a broken link.
SERVICE ?= permits credit inspection insurance gateway
audit-verify: $(STAMP)
	@rc=0; for s in $(SERVICE); do $(PY) -m kernel.audit verify $$s || rc=1; done; exit $$rc

migrate: $(STAMP)
	$(PY) -m deploy.devrun --migrate-only

clean:
	rm -rf $(VENV) var/*.db var/*.db-* bench/results/*.json
