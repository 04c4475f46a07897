"""The host's own health (psutil): CPU, memory, disk, CPU temperature, uptime, address."""

from __future__ import annotations

import logging
import platform
import socket
import time
from pathlib import Path

import psutil

from robot_agent.collectors import Reading

logger = logging.getLogger(__name__)

THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")  # millidegrees C
# Sensor chips that carry the SoC temperature, most specific first (Pi: cpu_thermal).
CPU_SENSOR_NAMES = ("cpu_thermal", "coretemp", "k10temp", "soc_thermal", "acpitz")
ROUTE_PROBE_ADDRESS = ("192.0.2.1", 9)  # TEST-NET-1: connect() on UDP sends nothing


class SystemCollector:
    def __init__(self, disk_path: str = "/", thermal_zone: Path = THERMAL_ZONE) -> None:
        self.disk_path = disk_path
        self.thermal_zone = thermal_zone
        psutil.cpu_percent(interval=None)  # primes the counter; the first call returns 0.0

    def performance(self) -> Reading:
        return {
            "cpu_percent": psutil.cpu_percent(interval=None),
            "memory_percent": psutil.virtual_memory().percent,
            "disk_percent": psutil.disk_usage(self.disk_path).percent,
            "cpu_temperature": self.cpu_temperature(),
            "uptime_s": round(max(0.0, time.time() - psutil.boot_time()), 1),
        }

    def cpu_temperature(self) -> float | None:
        read = getattr(psutil, "sensors_temperatures", None)  # absent on some platforms
        if read is not None:
            try:
                sensors = read()
            except (OSError, RuntimeError) as exc:
                logger.debug("sensors_temperatures failed: %s", exc)
                sensors = {}
            for name in (*CPU_SENSOR_NAMES, *sensors):
                entries = sensors.get(name)
                if entries:
                    return round(float(entries[0].current), 1)
        try:
            return round(int(self.thermal_zone.read_text().strip()) / 1000.0, 1)
        except (OSError, ValueError):
            return None

    @staticmethod
    def ip_address() -> str | None:
        """The address other hosts reach us on: the source of the default route."""
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.connect(ROUTE_PROBE_ADDRESS)
                return sock.getsockname()[0]
        except OSError:
            return None

    @staticmethod
    def platform() -> str:
        return f"{platform.system()} {platform.release()} ({platform.machine()})"
