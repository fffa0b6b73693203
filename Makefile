# Shoal: two commands do all set-up on a fresh machine: `make demo` and `make test`.
#
#   make install   install what is missing (R if absent, the Python package with its extras, the R package)
#   make test      install, then run the whole test suite (per-test timeout)
#   make demo      install, then start a node in the background and run the NYC flights demo
#   make bench     install, then run the parse benchmark (see bench/)
#   make codegen   regenerate the Python and R wrappers from the committed API description
#   make stop      stop the demo node

PYTHON     ?= python3
PIP        ?= $(PYTHON) -m pip
PYTEST_ARGS ?=
TEST_TIMEOUT ?= 300
STAMP_DIR  := .make
R_SOURCES  := $(wildcard rclient/DESCRIPTION rclient/NAMESPACE rclient/R/*.R rclient/man/*.Rd)
SUDO       := $(shell [ "$$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1 && echo sudo)

R_CHECK    := for (p in c("jsonlite", "curl", "testthat")) if (!requireNamespace(p, quietly = TRUE)) quit(status = 1)

.PHONY: install test demo bench codegen codegen-check stop clean-install

install: $(STAMP_DIR)/r-base $(STAMP_DIR)/python $(STAMP_DIR)/rclient

# R itself: only when it is missing (apt-get; the CRAN packages come from Debian too).
$(STAMP_DIR)/r-base:
	@mkdir -p $(STAMP_DIR)
	@if ! command -v R >/dev/null 2>&1 || ! Rscript -e '$(R_CHECK)' >/dev/null 2>&1; then \
	  echo "R or its client packages are missing: installing r-base-core r-cran-jsonlite r-cran-curl r-cran-testthat"; \
	  $(SUDO) apt-get update && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends \
	    r-base-core r-cran-jsonlite r-cran-curl r-cran-testthat; \
	fi
	@touch $@

# The Python distribution (client + server) in editable mode, with the server, dev and r extras.
$(STAMP_DIR)/python: pyproject.toml
	@mkdir -p $(STAMP_DIR)
	$(PIP) install -q -e '.[server,dev,r]'
	@touch $@

# The R client package, when it exists.
$(STAMP_DIR)/rclient: $(R_SOURCES) | $(STAMP_DIR)/r-base
	@mkdir -p $(STAMP_DIR)
	@if [ -f rclient/DESCRIPTION ]; then R CMD INSTALL --no-multiarch rclient >$(STAMP_DIR)/rclient.log 2>&1 \
	  || { cat $(STAMP_DIR)/rclient.log; exit 1; }; fi
	@touch $@

# pytest exit 5 ("no tests collected") is not a failure.
test: install
	@$(PYTHON) -m pytest -q -p no:cacheprovider --timeout=$(TEST_TIMEOUT) $(PYTEST_ARGS) tests; \
	rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; rc=0; fi; exit $$rc

demo: install
	$(PYTHON) tools/demo.py

bench: install
	$(PYTHON) bench/bench_parse.py --rows 1000000 --runs 3

codegen:
	$(PYTHON) -m tools.codegen

codegen-check:
	$(PYTHON) -m tools.codegen --check

stop:
	$(PYTHON) tools/demo.py --stop

clean-install:
	rm -rf $(STAMP_DIR)
