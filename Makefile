# dnslab — the two commands are `make demo` (a drill on the embedded loopback lab)
# and `make test` (ruff, mypy --strict and the whole pytest suite). Both bootstrap .venv.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint unit fast demo bench screenshot images clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock setup.py lab/_udpbatch.c
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest -q $(PYTEST_ARGS)

# tiers (docs/testing.md): unit = pure logic, no sockets (under a minute); fast = everything not marked
# slow or containers: unit plus the quick loopback integration tests (~1 min); test = all of it
unit: install
	$(BIN)/pytest -q -m "not integration and not containers" $(PYTEST_ARGS)

fast: install
	$(BIN)/pytest -q -m "not slow and not containers" $(PYTEST_ARGS)

demo: install
	$(BIN)/dnslab drill

# The lab's images without a registry: Debian base (mmdebstrap), wheelhouse, dnslab
# (--network=none) and Prometheus from Debian's package. docs/containers.md.
images: install
	bash docker/images.sh all

bench: install
	$(BIN)/python bench/dnsperf_vs_knot.py

# the README's picture of the live page: a real live drill (TTL 5) watched in headless Chromium
screenshot: install
	$(BIN)/python -m lab.web.screenshot docs/img/live-page.png

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
