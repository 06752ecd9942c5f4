#!/usr/bin/env bash
# Creates (once) the project's local virtual environment in .venv and installs what the demo and
# the tests need. torch is pinned: a looser requirement would pull a multi-gigabyte CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
STAMP=.venv/.spectral-edge-installed
WANT="torch==2.13.0 $(sha1sum pyproject.toml | cut -c1-12)"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet "torch==2.13.0"
  .venv/bin/python -m pip install --quiet -e ".[test,plots,parquet]"
  echo "$WANT" > "$STAMP"
fi
