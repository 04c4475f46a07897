"""Container health check for tonypi-ingest: is it connected to the MQTT broker?

The ingest service has no port of its own, and a live process proves little: what matters
is an established TCP connection to the broker, since without one nothing is stored.
Reads /proc/net/tcp{,6} (the container's own network namespace), so it needs nothing but
the standard library. Exit status 0 = healthy, 1 = not connected.

Usage: python ingest_healthcheck.py [BROKER_PORT]   (default: TONYPI_MQTT_PORT or 1883)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

TCP_TABLES = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))
TCP_ESTABLISHED = "01"  # connection state code in the kernel's table (hex)
DEFAULT_MQTT_PORT = 1883


def established_to_port(port: int, tables: tuple[Path, ...] = TCP_TABLES) -> bool:
    """True if any established TCP connection in `tables` has `port` as its remote port."""
    for table in tables:
        try:
            lines = table.read_text().splitlines()[1:]
        except OSError:
            continue  # no IPv6 in this namespace
        for line in lines:
            columns = line.split()
            if len(columns) < 4:
                continue
            remote, state = columns[2], columns[3]
            if state == TCP_ESTABLISHED and int(remote.rsplit(":", 1)[1], 16) == port:
                return True
    return False


def main(argv: list[str]) -> int:
    port = int(argv[1]) if len(argv) > 1 else int(
        os.environ.get("TONYPI_MQTT_PORT") or DEFAULT_MQTT_PORT)
    if established_to_port(port):
        return 0
    sys.stderr.write(f"no established connection to an MQTT broker on port {port}\n")
    return 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
