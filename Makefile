# One command to set everything up and run the workbench, one to run the tests.
# Both create .venv and install what they need on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo lab test bench check clean stop constraints

# The environment is installed from constraints.txt: the exact versions it was tested with
# (the library's own requirements in pyproject.toml stay floors). See `make constraints`.
$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "actorpg_lab needs Python 3.11+; set PYTHON=python3.11 (or newer)")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade -c constraints.txt pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[lab,test,bench,scale]"
	touch $(STAMP)

## constraints: refresh constraints.txt ON PURPOSE: the newest versions the pyproject floors
## allow, frozen from a throw-away venv; then run `make test` and commit the diff if green
constraints:
	rm -rf .venv-constraints
	$(PYTHON) -m venv .venv-constraints
	.venv-constraints/bin/python -m pip install --quiet --upgrade pip
	.venv-constraints/bin/python -m pip install --quiet -e ".[lab,test,bench,scale]"
	bash scripts/freeze-constraints.sh .venv-constraints/bin/python > constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf .venv-constraints
	@echo "constraints.txt refreshed; now run 'make test' (it reinstalls .venv from it) and commit"

## lab: the main job — embedded PostgreSQL + demo data + JupyterLab on notebooks/
lab: $(STAMP)
	$(PY) -m actorpg_lab.lab

## demo: headless variant of `make lab`: seed the demo data and print a summary
demo: $(STAMP)
	$(PY) -m actorpg_lab.lab --no-browser --summary

## stop: stop the embedded PostgreSQL that lab/demo left running (data is kept)
stop: $(STAMP)
	$(PY) -m actorpg_lab.lab --stop-server

## test: the whole test suite against a real PostgreSQL (embedded unless ACTORPG_TEST_DSN)
test: $(STAMP)
	@bash scripts/ensure-browser.sh
	$(PY) -m pytest $(PYTEST_ARGS)

## bench: benchmarks side by side with the references; prints a markdown table
bench: $(STAMP)
	$(PY) -m bench $(BENCH_ARGS)

## check: static checks (ruff, mypy --strict)
check: $(STAMP)
	$(PY) -m ruff check actorpg_lab tests bench
	$(PY) -m mypy

## clean: stop the embedded server and delete .venv and ./.actorpg with its database (as
## root that may live under /var/tmp/actorpg-root/: ./.actorpg/pgdata.location says where)
clean:
	-@if [ -x $(PY) ] && [ -d .actorpg ]; then $(PY) -m actorpg_lab.lab --stop-server; fi
	@loc=$$(cat .actorpg/pgdata.location 2>/dev/null); case "$$loc" in \
	  *..*|/var/tmp/actorpg-root/*/*|/var/tmp/actorpg-root/pginstall) ;; \
	  /var/tmp/actorpg-root/?*) echo "rm -rf $$loc"; rm -rf -- "$$loc" ;; esac
	rm -rf $(VENV) .venv-constraints .actorpg
