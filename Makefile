# The two commands: `make run` and `make test`. Both set up what they need on a fresh clone.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
NODE_STAMP := node_modules/.installed-stamp

.PHONY: run test lint format check-infra bench clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

# Infra tools, each in its own venv: they pin older boto3/pydantic than the app (infra/README.md).
SAM_STAMP     := .venv-sam/.installed-stamp
CHECKOV_STAMP := .venv-checkov/.installed-stamp

$(SAM_STAMP): infra/requirements-sam.txt
	test -x .venv-sam/bin/python || $(PYTHON) -m venv .venv-sam
	.venv-sam/bin/python -m pip install --quiet --disable-pip-version-check -r infra/requirements-sam.txt
	touch $(SAM_STAMP)

$(CHECKOV_STAMP): infra/requirements-checkov.txt
	test -x .venv-checkov/bin/python || $(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install --quiet --disable-pip-version-check -r infra/requirements-checkov.txt
	touch $(CHECKOV_STAMP)

## make check-infra: the infra tests, plus `sam validate --lint` and `sam build` (slower; not in make test).
check-infra: $(STAMP) $(SAM_STAMP) $(CHECKOV_STAMP)
	$(BIN)/python -m pytest tests/infra -q
	SAM_CLI_TELEMETRY=0 .venv-sam/bin/sam validate --lint --template infra/aws/template.yaml --region eu-central-1
	infra/aws/stage_source.sh
	SAM_CLI_TELEMETRY=0 .venv-sam/bin/sam build --template infra/aws/template.yaml --build-dir .aws-sam/build

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

## make run: start the LeanIX emulator and the local host, run every function's demo end to end.
run: $(STAMP)
	$(BIN)/python -m functions demo

## make test: lint, types, then pytest with moto server and Azurite started and stopped around it.
test: $(STAMP) $(NODE_STAMP) $(SAM_STAMP) $(CHECKOV_STAMP) lint
	$(BIN)/python -m local.services run -- $(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy shared functions

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	for script in bench/*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .venv-sam .venv-checkov .aws-sam node_modules .services .local-data .pytest_cache .mypy_cache .ruff_cache
