# Two commands do all the set-up on a fresh machine:
#   make demo   install, replay the bundled notebook into a store, print it, serve the dashboard
#   make test   install, run the whole test suite on pandas 3 and again on pandas 2.2
PYTHON ?= python3
VENV ?= .venv
VENV_PD2 ?= .venv-pd2
DEMO_STORE ?= notebooks/.cellsync
PORT ?= 5006

AXE_VERSION ?= 4.14.1
AXE_DIR ?= tests/.node

.PHONY: install browser axe demo test test-fast test-engines bench clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -c constraints.txt -e ".[test,engines]"
	touch $@

$(VENV_PD2)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV_PD2)
	$(VENV_PD2)/bin/pip install -q --upgrade pip
	$(VENV_PD2)/bin/pip install -q -e ".[test,engines]" "pandas==2.2.*"
	touch $@

install: $(VENV)/.installed

# The browser tests drive Debian's chromium (never `playwright install`, which downloads one).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing: sudo apt-get install chromium (the browser tests are skipped without it)"; fi; }

# The accessibility tests load axe-core (npm) from disk into the page, never from a CDN. It goes
# into a folder git ignores, with no package.json or package-lock.json written (a lock file
# records download addresses); without npm the tests that need it are skipped and say why.
axe: $(AXE_DIR)/node_modules/axe-core/axe.min.js

$(AXE_DIR)/node_modules/axe-core/axe.min.js:
	@if command -v npm >/dev/null 2>&1; then \
	  mkdir -p $(AXE_DIR) && cd $(AXE_DIR) && { npm install --no-save --no-package-lock --no-audit --no-fund --silent axe-core@$(AXE_VERSION) || echo "axe-core could not be installed: the accessibility tests are skipped"; }; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null && \
	  mkdir -p $(AXE_DIR) && cd $(AXE_DIR) && { npm install --no-save --no-package-lock --no-audit --no-fund --silent axe-core@$(AXE_VERSION) || echo "axe-core could not be installed: the accessibility tests are skipped"; }; \
	else echo "npm is missing: apt-get install npm (the accessibility tests are skipped without axe-core)"; fi

demo: install
	$(VENV)/bin/cellsync demo --dir notebooks --store $(DEMO_STORE) --no-serve
	$(VENV)/bin/cellsync show $(DEMO_STORE)
	$(VENV)/bin/cellsync serve $(DEMO_STORE) --port $(PORT)

# Spark tests start a JVM (~10 s) and run jobs: `make test` runs the short subset marked
# engines_smoke; `make test-engines` runs every polars and Spark test.
test: $(VENV)/.installed $(VENV_PD2)/.installed browser axe
	$(VENV)/bin/python -m pytest -q -m "not engines or engines_smoke"
	@echo "--- the tracker, store and explainers again on pandas 2.2 (no copy-on-write: the content-hash fallback) ---"
	$(VENV_PD2)/bin/python -m pytest -q -p no:cacheprovider -m "not browser and (not engines or engines_smoke)"

test-fast: install
	$(VENV)/bin/python -m pytest -q -m "not kernel and not slow and not browser"

test-engines: install
	nice -n 10 $(VENV)/bin/python -m pytest -q tests/test_engines_*.py

bench: install
	$(VENV)/bin/python bench/run.py

clean:
	rm -rf $(VENV) $(VENV_PD2) $(DEMO_STORE) .pytest_cache $(AXE_DIR)
