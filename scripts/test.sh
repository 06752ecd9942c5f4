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
.venv/bin/ruff check src tests benchmarks scripts
.venv/bin/python -m pytest -q --doctest-modules src tests "$@"
# The numerical tests again under other compute kernels (scripts/kernels.py): OpenBLAS kernels
# for other CPUs and torch's unvectorised ATen. A tolerance that holds on one kernel only fails
# here, not on a user's machine. Only for the whole suite (no arguments), the slow cases left out.
# Statistical and store tests are not kernel-bound: test_accuracy (sketch error bars of a trained
# model) and test_fuzz_store (SQLite) run once, above.
if [ "$#" -eq 0 ]; then
  for setting in $(.venv/bin/python scripts/kernels.py list); do
    echo "test.sh: numerical tests with $setting"
    env "$setting" .venv/bin/python scripts/kernels.py check
    env "$setting" HYPOTHESIS_PROFILE=ci .venv/bin/python -m pytest -q -p no:cacheprovider \
      -m "not slow" --doctest-modules src/spectral_edge/core tests/core tests/fuzz \
      --ignore tests/core/test_accuracy.py --ignore tests/fuzz/test_fuzz_store.py
  done
fi
