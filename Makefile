# Two commands do all the set-up on a fresh machine:
#   make demo   install, replay the bundled notebook into a store, print what was recorded
#   make test   install, run the whole test suite on pandas 3 and again on pandas 2.2
PYTHON ?= python3
VENV ?= .venv
VENV_PD2 ?= .venv-pd2
DEMO_STORE ?= notebooks/.cellsync

.PHONY: install demo test test-fast bench clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -c constraints.txt -e ".[test]"
	touch $@

$(VENV_PD2)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV_PD2)
	$(VENV_PD2)/bin/pip install -q --upgrade pip
	$(VENV_PD2)/bin/pip install -q -e ".[test]" "pandas==2.2.*"
	touch $@

install: $(VENV)/.installed

demo: install
	rm -rf $(DEMO_STORE)
	$(VENV)/bin/cellsync replay notebooks/demo.ipynb --store $(DEMO_STORE)
	$(VENV)/bin/cellsync show $(DEMO_STORE)
	$(VENV)/bin/cellsync status $(DEMO_STORE)

test: $(VENV)/.installed $(VENV_PD2)/.installed
	$(VENV)/bin/python -m pytest -q
	@echo "--- the same suite on pandas 2.2 (no copy-on-write: the content-hash fallback) ---"
	$(VENV_PD2)/bin/python -m pytest -q -p no:cacheprovider

test-fast: install
	$(VENV)/bin/python -m pytest -q -m "not kernel and not slow"

bench: install
	$(VENV)/bin/python bench/run.py

clean:
	rm -rf $(VENV) $(VENV_PD2) $(DEMO_STORE) .pytest_cache
