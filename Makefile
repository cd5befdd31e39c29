# langchain-daytona-exec: every target sets itself up (`install` first), so a fresh clone works.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install test unit integration lint format bench demo clean record check-data-analysis notebooks

install: $(STAMP)

$(STAMP): pyproject.toml
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing bubblewrap with apt-get"; \
	    (apt-get install -y -qq bubblewrap || (apt-get update -qq && apt-get install -y -qq bubblewrap)) >/dev/null; \
	  else \
	    echo "bubblewrap is missing: run  sudo apt-get install bubblewrap  (the local sandbox needs it)"; \
	  fi; }
	@for tool in git:git iptables:iptables; do \
	  command -v $${tool%%:*} >/dev/null 2>&1 && continue; \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get install -y -qq $${tool#*:} || (apt-get update -qq && apt-get install -y -qq $${tool#*:})) >/dev/null; \
	  else echo "$${tool%%:*} is missing (the Daytona emulator's git routes / open-network guard): sudo apt-get install $${tool#*:}"; fi; \
	done
	@command -v node >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get install -y -qq nodejs || (apt-get update -qq && apt-get install -y -qq nodejs)) >/dev/null; \
	  else echo "node is missing (JavaScript in the sandbox): sudo apt-get install nodejs"; fi; }
	@command -v tsx >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || \
	  npm install -g --silent tsx@4 >/dev/null 2>&1 || \
	  echo "tsx not installed: TypeScript in the sandbox will report a missing runtime"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,analysis]'
	touch $(STAMP)

test: install
	$(PY) -m pytest tests -q -p no:cacheprovider --record-mode=none

unit: install
	$(PY) -m pytest tests/unit_tests -q

integration: install
	$(PY) -m pytest tests/integration_tests -q --record-mode=none

# langchain-daytona-data-analysis pins daytona<0.195: check it against the emulator from a
# virtualenv of its own (the emulator runs in ours).
check-data-analysis: install
	test -x .venv-compat/bin/python || $(PYTHON) -m venv .venv-compat
	.venv-compat/bin/pip install -q langchain-daytona-data-analysis
	$(PY) tests/compat/run_data_analysis.py .venv-compat/bin/python

lint: install
	$(VENV)/bin/ruff check langchain_daytona_exec tests benchmarks
	$(VENV)/bin/ruff format --check langchain_daytona_exec tests benchmarks
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format langchain_daytona_exec tests benchmarks
	$(VENV)/bin/ruff check --fix langchain_daytona_exec tests benchmarks

notebooks: install  # re-run the notebooks and store them with their outputs
	$(PY) -m tests.integration_tests.test_notebooks

bench: install
	$(PY) benchmarks/startup.py
	$(PY) benchmarks/engine.py
	$(PY) benchmarks/pool.py
	$(PY) benchmarks/tools.py
	$(PY) benchmarks/agent.py
	$(PY) benchmarks/coldstart.py
	$(PY) benchmarks/environments.py
	$(PY) benchmarks/scale.py
	$(PY) benchmarks/daytona_bench.py

# With OPENAI_API_KEY or OPENAI_BASE_URL set, the reference agent answers a question
# about examples/data/sales.csv; without either, the same analysis runs through the tools.
demo: install
	$(PY) examples/demo.py --charts-dir demo-output

# Re-record the Daytona control-plane cassettes: against the emulator, or against any
# Daytona when DAYTONA_API_URL and DAYTONA_API_KEY are set.
record: install
	$(PY) -m pytest tests/integration_tests/test_daytona_cassettes.py -q -p no:cacheprovider --record-mode=rewrite

clean:
	rm -rf $(VENV) demo-output .pytest_cache .mypy_cache .ruff_cache
