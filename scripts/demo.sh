#!/usr/bin/env bash
# The main job: set up, then run the pipeline demo (simulated robots -> Mosquitto -> ingest
# -> SQLite stores) and print what arrives. Extra args go to the demo (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/python scripts/pipeline_demo.py "$@"
