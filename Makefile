# trustmeter: make run | make test | make lint | make bench
# Browser tests: make browser-test (needs Debian's chromium + chromium-driver);
# make screenshots refreshes docs/screenshots.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test lint venv clean translations axe browser-test screenshots bench

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Re-install whenever pyproject.toml changes.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

translations: $(STAMP)
	$(VENV)/bin/pybabel -q compile -d survey/translations

run: $(STAMP) translations
	$(VENV)/bin/trustmeter run

test: $(STAMP) translations axe
	$(PY) -m pytest

# axe-core (npm) for the accessibility tests, in a project-local folder; without npm
# (or the registry) those tests skip and say why.
AXE_DIR := .cache/axe
AXE_JS  := $(AXE_DIR)/node_modules/axe-core/axe.min.js

axe: $(AXE_JS)

$(AXE_JS):
	@if command -v npm >/dev/null 2>&1; then \
	  npm install --no-save --no-audit --no-fund --prefix $(AXE_DIR) axe-core@4 \
	    || echo "axe-core could not be installed: the accessibility tests will be skipped"; \
	else echo "npm not found: the accessibility tests will be skipped"; fi

browser-test: $(STAMP) translations axe
	$(PY) -m pytest -m browser tests/browser

screenshots: $(STAMP) translations
	TRUSTMETER_UPDATE_SCREENSHOTS=1 $(PY) -m pytest -m browser -q tests/browser/test_readme_screenshots.py

# Benchmarks (not part of make test): prints a table, writes benchmarks/results.json.
# BENCH_SCALE=small|tiny for quicker runs; see benchmarks/README.md.
bench: $(STAMP) translations
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) -m benchmarks

lint: $(STAMP)
	$(VENV)/bin/ruff check survey instruments analysis tests benchmarks
	$(VENV)/bin/ruff format --check survey instruments analysis tests benchmarks

clean:
	rm -rf $(VENV) build *.egg-info
