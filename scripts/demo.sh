#!/usr/bin/env bash
# The main job: a monitored training run shown live, ending with a summary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/env.sh
exec .venv/bin/spectral-edge demo "$@"
