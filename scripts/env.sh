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
# The report test opens an HTML report in headless Chromium (Debian's package). Installed only
# when missing and apt is there (as root, or through sudo without a password); quiet, and never
# fatal: without it that one test skips with the reason.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; fi
  fi
  if [ "$(id -u)" = 0 ] || [ -n "$SUDO" ]; then
    { $SUDO apt-get update -qq \
        && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium; } >/dev/null 2>&1 \
      || echo "env.sh: could not install chromium; the report's browser test will skip" >&2
  fi
fi
