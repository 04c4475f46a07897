#!/usr/bin/env bash
# The main job: set up, then `tonypi-console --demo` (embedded broker, stores, ingest and
# simulated robots in one process). Extra args go to the console (see --help).
# With no display (a server, a CI box) it runs under Xvfb for 30 s and saves a screenshot.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; then
    exec .venv/bin/tonypi-console --demo "$@"
fi
shot="${TMPDIR:-/tmp}/tonypi-console-demo.png"
echo "no display: running the demo under Xvfb for 30 s; screenshot -> $shot"
exec xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/tonypi-console --demo \
    --open tonypi_demo_01 --run-for 30 --screenshot "$shot" "$@"
