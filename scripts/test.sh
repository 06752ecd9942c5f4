#!/usr/bin/env bash
# The test command: lint, then the whole default test suite (docstring examples included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/env.sh
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
      || echo "test.sh: could not install chromium; the report's browser test will skip" >&2
  fi
fi
.venv/bin/ruff check src tests benchmarks
.venv/bin/python -m pytest -q --doctest-modules src tests "$@"
