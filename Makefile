# Each target sets up .venv on first use (scripts/bootstrap.sh), then runs.
PYTHON := .venv/bin/python
ARGS ?=

.PHONY: setup pipeline monitor test test-fast lint format protos lock

setup:
	@scripts/bootstrap.sh

## The whole pipeline on the bundled taxi data; extra flags: make pipeline ARGS="--train-steps 500"
pipeline: setup
	$(PYTHON) local_runner.py $(ARGS)

## Skew and drift of serving data against the served model's training data:
## make monitor ARGS="--serving-data may.csv" (default: the server's request log)
monitor: setup
	$(PYTHON) monitoring_runner.py $(ARGS)

## The test suite; extra pytest flags: make test ARGS="-k split"
test: setup
	$(PYTHON) -m pytest $(ARGS)

## Everything that needs no pipeline run (tests marked e2e are left out).
test-fast: setup
	$(PYTHON) -m pytest -m "not e2e" $(ARGS)

## Style: ruff's linter and formatter over the whole tree (pyproject.toml).
lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

## Apply the formatter and the linter's safe fixes.
format: setup
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

## Regenerate serving/protos' Python module from its .proto (TF Serving's messages).
protos: setup
	$(PYTHON) -m serving.protos.compile

## Re-resolve requirements.in into requirements.lock (needs the venv's uv).
lock: setup
	.venv/bin/uv pip compile requirements.in --python $(PYTHON) \
	  --python-platform x86_64-manylinux_2_31 -o requirements.lock
