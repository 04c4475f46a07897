#!/usr/bin/env bash
# Installs what TonyPi Console needs on a Debian/Ubuntu machine: system packages (only
# the missing ones) and a virtual environment in .venv with the project and its extras.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(mosquitto mosquitto-clients desktop-file-utils postgresql xvfb xauth libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0
              poppler-utils libegl1 libgl1 libfontconfig1 libxkbcommon0 libxkbcommon-x11-0
              libglib2.0-0 libdbus-1-3 fonts-dejavu-core)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get install -y -q "${missing[@]}" >/dev/null \
        || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q "${missing[@]}" >/dev/null; }
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".[test]"
