# The two commands of the README, plus the checks and figures behind them.
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
SYSTEM_DEPS := $(VENV)/.system-deps

.PHONY: test lint typecheck pytest terraform-check run bench clean

test: lint typecheck terraform-check pytest

lint: $(INSTALLED)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: $(INSTALLED)
	$(BIN)/mypy functions/instapipe functions/main.py

pytest: $(INSTALLED) $(SYSTEM_DEPS)
	$(BIN)/pytest

# terraform fmt and checkov over terraform/; checkov gets a virtualenv of its own.
terraform-check:
	scripts/check-terraform

run: $(INSTALLED) $(SYSTEM_DEPS)
	PYTHONPATH=functions:. $(BIN)/python -m stack

bench: $(INSTALLED) $(SYSTEM_DEPS)
	PYTHONPATH=functions:. $(BIN)/python -m benchmarks

$(INSTALLED): requirements.txt functions/requirements.txt
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(SYSTEM_DEPS): scripts/install-system-deps
	scripts/install-system-deps
	@mkdir -p $(VENV) && touch $@

clean:
	rm -rf $(VENV) .venv-checkov .pytest_cache .mypy_cache .ruff_cache artifacts
