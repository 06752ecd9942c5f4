#!/usr/bin/env bash
# The test command: lint, then the whole default test suite (docstring examples included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/env.sh
.venv/bin/ruff check src tests benchmarks
.venv/bin/python -m pytest -q --doctest-modules src tests "$@"
