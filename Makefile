# The two commands: `make up` runs the whole system, `make test` runs every test.
# Both create .venv and install on first use; nothing needs to be running beforehand.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: up test faults lint typecheck unit integration e2e schemas clean browser bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

up: $(STAMP)
	$(BIN)/redress up

# two stages: everything else, then the fault-injection tests (each breaks a stack of its own)
test: $(STAMP) lint typecheck browser
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not faults"; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; \
	  if [ $$rc -ne 0 ]; then exit $$rc; fi
	$(MAKE) --no-print-directory faults

faults: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -m faults; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no fault tests"; exit 1; fi; exit $$rc

# what this machine holds: limits, the pipeline end to end, replay, the event-store peer
# (about 12 minutes; figures in bench/results/ and BENCHMARKS.md)
bench: $(STAMP)
	$(BIN)/redress bench --out bench/results

lint: $(STAMP)
	$(BIN)/ruff check contracts redress services tests
	$(BIN)/ruff format --check contracts redress services tests

typecheck: $(STAMP)
	$(BIN)/mypy --strict contracts redress services

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

schemas: $(STAMP)
	$(BIN)/redress contracts export

clean:
	rm -rf $(VENV) .redress

# Debian's chromium, for the browser tests (Playwright drives it): installed when missing and we are root
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the browser tests"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
	      >/dev/null 2>&1 || echo "could not install chromium: the browser tests will be skipped"; \
	  else \
	    echo "chromium not found: the browser tests will be skipped (as root, make test installs it)"; \
	  fi; }
