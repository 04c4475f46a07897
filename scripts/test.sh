#!/usr/bin/env bash
# Set up everything the tests need, then run them (lint first). Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
.venv/bin/ruff check .
.venv/bin/lint-imports  # the layer contracts in pyproject.toml
export QT_QPA_PLATFORM=offscreen
exec .venv/bin/python -m pytest -q "$@"
