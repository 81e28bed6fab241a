# One entry point for people and CI. `make run` and `make test` install on first use.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ROLE ?= officer
SUB ?=
PYTEST_ARGS ?=
# Test processes (pytest-xdist, one test file at a time each; see tests/conftest.py). Three on
# two cores: many tests wait on processes and the network; measured 2026-12-07 on a fresh clone,
# 867 s with two, 772 s with three. PYTEST_WORKERS=0 runs everything in one process (--pdb).
PYTEST_WORKERS ?= 3

.PHONY: install browser run test bench fuzz lint token migrate audit-verify demo-data clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements/broker.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python 3.11 is required)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r requirements/broker.txt
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m kernel.devbroker --check
	@$(MAKE) --no-print-directory browser
	@touch $(STAMP)

# The portal's browser tests drive Debian's Chromium through Playwright (no browser download);
# a CJK font so the zh-CN pages' screenshots show characters, not boxes.
browser:
	@if command -v chromium >/dev/null 2>&1 && fc-list :lang=zh 2>/dev/null | grep -q .; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "install: Debian chromium (portal browser tests)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null; \
	else \
		echo "warning: chromium not found and not root: run 'sudo apt-get install chromium fonts-wqy-microhei'" \
			"or the portal's browser tests are skipped"; \
	fi

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
	$(VENV)/bin/mypy kernel services gateway deploy bench ops

token: $(STAMP)
	@$(PY) -m kernel.auth.devtoken --role '$(ROLE)' --sub '$(SUB)'

# Recompute every service's audit hash chain (SERVICE=permits for one); exit 1 at a broken link.
SERVICE ?= permits credit inspection insurance gateway
audit-verify: $(STAMP)
	@rc=0; for s in $(SERVICE); do $(PY) -m kernel.audit verify $$s || rc=1; done; exit $$rc

# Fill a running suite (`make run`) with a city's worth of data through the gateway's API.
# DEMO_ARGS="--enterprises 500 --seed 7" for another size; `safety demo-data --help` for more.
DEMO_ARGS ?=
demo-data: $(STAMP)
	$(PY) -m ops demo-data $(DEMO_ARGS)

migrate: $(STAMP)
	$(PY) -m deploy.devrun --migrate-only

clean:
	rm -rf $(VENV) var/*.db var/*.db-* bench/results/*.json
