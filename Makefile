# nextword tasks. `make` lists them.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
DEMO_MODEL  ?= models/python-docs
DEMO_BUDGET ?= 4m

.DEFAULT_GOAL := help
.PHONY: help install test demo bench bench-long lint clean

help:  ## list the tasks
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/nextword: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

install: $(BIN)/nextword  ## create .venv and install nextword with the test tools

test: install  ## run the test suite (pytest, two processes side by side)
	$(BIN)/python -m pytest -q -n 2

corpora/python-docs.txt: corpora/python_docs.py
	$(BIN)/python corpora/python_docs.py $@

demo: install corpora/python-docs.txt  ## train on the built-in Python docs corpus and show predictions
	$(BIN)/nextword train corpora/python-docs.txt -m $(DEMO_MODEL) --time-budget $(DEMO_BUDGET)
	@for prompt in "The return value of the " "This function raises a " "If the file does not " \
	               "Return a list of " "The default value is "; do \
	  printf '%-28s -> ' "$$prompt"; $(BIN)/nextword predict -m $(DEMO_MODEL) -k 5 "$$prompt"; done
	@printf '%-28s -> ' "Return a new dic"; $(BIN)/nextword predict -m $(DEMO_MODEL) -k 5 "Return a new dic"
	@echo
	@$(BIN)/nextword generate -m $(DEMO_MODEL) "The" -n 30 --seed 1
	@echo
	@echo "Try it as you type:  $(BIN)/nextword complete -m $(DEMO_MODEL)"

bench: install  ## speed of prediction (pipe and LSP) and training (vs PyTorch: the `bench` extra), 10-min WikiText-2 quality
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python bench/predict_speed.py
	$(BIN)/python bench/lsp_latency.py
	$(BIN)/python bench/train_speed.py
	$(BIN)/python bench/wikitext_quality.py

bench-long: install  ## slow benchmarks: memory curve (5 min), streaming memory (10 min)
	$(BIN)/python bench/memory_curve.py
	$(BIN)/python bench/train_memory.py

lint: install  ## static checks: ruff, and the import contracts (only nextword.training may import TensorFlow)
	$(BIN)/ruff check nextword tests corpora bench
	$(BIN)/lint-imports

clean:  ## remove the virtualenv, generated corpora and demo models
	rm -rf $(VENV) corpora/python-docs.txt models *.egg-info
