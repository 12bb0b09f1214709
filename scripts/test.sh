#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/install_browser.sh   # chromium + playwright + jupyterlab for tests/e2e
.venv/bin/python -m ruff check .
.venv/bin/lint-imports   # the layers only look down, no import cycles (pyproject.toml)
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
