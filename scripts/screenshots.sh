#!/usr/bin/env bash
# Every tab and dialog of the console (the embedded demo), light and dark, under Xvfb,
# into docs/screenshots/. Extra args go to scripts/screenshots.py (--out, --warm-up).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || scripts/bootstrap.sh
for scheme in light dark; do
    TONYPI_COLOR_SCHEME=$scheme xvfb-run -a -s "-screen 0 1600x1000x24" \
        .venv/bin/python scripts/screenshots.py "$@"
done
