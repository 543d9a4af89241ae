# trustmeter: make run | make test | make lint | make bench
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test lint venv clean translations

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

test: $(STAMP) translations
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check survey instruments analysis tests

clean:
	rm -rf $(VENV) build *.egg-info
