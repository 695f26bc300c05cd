# The two commands of the README: `make demo` and `make test`. Both create .venv when missing.
# uv installs the dependencies (about 5 GB with torch's CUDA libraries) in 1 to 1.5 minutes where pip
# took three; --compile-bytecode because imports run with PYTHONDONTWRITEBYTECODE on some machines
# and would then recompile torch in every job. Likewise librosa's numba code is compiled into its
# cache once (30 s), not by the first onset jobs of the demo. requirements.lock pins every package
# (for Python 3.11 and 3.12, any platform), so every fresh install computes with the same
# versions; `make lock` renews it after a change of pyproject.toml.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CORES ?= 2

.PHONY: demo test install lock lint format clean-results

install: $(STAMP)

$(BIN)/uv:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet 'uv>=0.5,<1'

$(STAMP): pyproject.toml requirements.lock | $(BIN)/uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode \
		-r requirements.lock -e '.[dev]'
	$(BIN)/python -c 'from avexplain.features.onsets import warm; warm()'
	@touch $(STAMP)

lock: | $(BIN)/uv
	$(BIN)/uv pip compile --quiet pyproject.toml --extra dev --universal --python-version 3.11 \
		-o requirements.lock

# The offline demo on the embedded synth dataset: every table and figure of the five papers (STAN,
# the AVE paper's localization family, the AV-transformer, the fusion layers), then the HTML report.
demo: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakemake --profile profiles/local --cores $(CORES) demo
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakemake --profile profiles/local --cores $(CORES) \
		--report results/report.html demo

# The whole suite, the Snakemake linter and the formatter check.
test: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -q
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakemake --lint
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/snakefmt --check Snakefile workflow/rules

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
	$(BIN)/snakefmt Snakefile workflow/rules

clean-results:
	rm -rf data features results logs benchmarks/out .snakemake
