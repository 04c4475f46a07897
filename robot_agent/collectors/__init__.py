"""Where the agent's readings come from: the HiWonder SDK on a robot, a simulation elsewhere.

Every reading is the `data` object of one message kind of the project's wire format, or
None when the source cannot read it right now (the agent then sends nothing rather than
a made-up value).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

logger = logging.getLogger(__name__)

Reading = dict[str, Any]


class HardwareSource(Protocol):
    hardware_mode: str  # "sdk" | "simulation"

    def update(self, now_s: float) -> None:
        """Bring the source up to monotonic time `now_s` (a simulation integrates to it)."""

    def battery(self) -> Reading | None: ...

    def servos(self) -> Reading | None: ...

    def imu(self) -> Reading | None: ...

    def sensors(self) -> Reading | None: ...

    def drain_events(self) -> list[tuple[str, Reading]]:
        """(kind, data) of job and log messages produced since the last call."""

    def stop_motion(self) -> None: ...

    def resume_motion(self) -> None: ...

    def emergency_stop(self, reason: str) -> None: ...

    def perform(self, action: str, params: Mapping[str, Any]) -> tuple[bool, str]:
        """Carry out a motion command (move, head_nod, head_shake): (accepted, message)."""


def choose_hardware(simulate: bool, scenario: str, seed: int,
                    start: datetime | None = None) -> HardwareSource:
    """The SDK when it is importable and a simulation was not asked for."""
    from robot_agent.collectors.simulation import SimulatedRobot

    if not simulate:
        from robot_agent.collectors.hiwonder import open_hiwonder

        hardware = open_hiwonder()
        if hardware is not None:
            return hardware
        logger.warning("HiWonder SDK not available: falling back to the simulation")
    return SimulatedRobot(scenario=scenario, seed=seed, start=start)
