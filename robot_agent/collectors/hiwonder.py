"""Readings from a real TonyPi through the HiWonder SDK, when it is installed.

Two SDK generations exist on robots in the field: the STM32 controller SDK
(`ros_robot_controller_sdk`, a `Board` object; battery in mV, IMU accel in g and gyro
in deg/s, bus-servo reads answering `[value]` or None) and the older module-level
`Board` functions (`getBattery`, `getBusServoPulse`...).  Both are adapted to the same
few calls here.  A read that fails gives None for that value - never an invented one.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

from robot_agent.collectors import Reading
from robot_agent.collectors.simulation import GRAVITY_M_S2, SERVO_NAMES, voltage_to_percentage

logger = logging.getLogger(__name__)

BOARD_MODULES = ("ros_robot_controller_sdk", "hiwonder.ros_robot_controller_sdk",
                 "HiwonderSDK.ros_robot_controller_sdk")
LEGACY_BOARD_MODULES = ("hiwonder.Board", "HiwonderSDK.Board")
SONAR_MODULES = ("hiwonder.Sonar", "HiwonderSDK.Sonar")
BUS_SERVO_IDS = tuple(range(1, 17))
PULSE_CENTER = 500
DEG_PER_PULSE = 240.0 / 1000.0  # bus servo: 0..1000 pulses span 240 degrees


def _first(value: Any) -> Any:
    """The controller SDK answers reads as `[value]` (or a tuple); older ones as a value."""
    if isinstance(value, list | tuple):
        return value[0] if value else None
    return value


class _ControllerBoard:
    """`ros_robot_controller_sdk.Board` (Raspberry Pi 5 TonyPi)."""

    def __init__(self, board: Any) -> None:
        self.board = board

    def battery_mv(self) -> Any:
        return self.board.get_battery()

    def imu(self) -> Any:
        return self.board.get_imu()

    def servo(self, servo_id: int) -> tuple[Any, Any, Any, Any]:
        b = self.board
        torque = getattr(b, "bus_servo_read_torque_state", lambda _id: None)(servo_id)
        return (_first(b.bus_servo_read_position(servo_id)),
                _first(b.bus_servo_read_temp(servo_id)),
                _first(b.bus_servo_read_vin(servo_id)), _first(torque))

    def stop_servos(self) -> None:
        for servo_id in BUS_SERVO_IDS:
            self.board.bus_servo_stop([servo_id])


class _LegacyBoard:
    """Module-level functions of the older `hiwonder.Board` / `HiwonderSDK.Board`."""

    def __init__(self, module: Any) -> None:
        self.module = module

    def battery_mv(self) -> Any:
        return self.module.getBattery()

    def imu(self) -> Any:
        return None  # the old board exposes no IMU call

    def servo(self, servo_id: int) -> tuple[Any, Any, Any, Any]:
        m = self.module
        return (_first(m.getBusServoPulse(servo_id)), _first(m.getBusServoTemp(servo_id)),
                _first(m.getBusServoVin(servo_id)), None)

    def stop_servos(self) -> None:
        for servo_id in BUS_SERVO_IDS:
            self.module.stopBusServo(servo_id)


def _import_first(names: tuple[str, ...]) -> Any:
    for name in names:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
        except Exception as exc:  # noqa: BLE001 - vendor modules open serial ports on import
            logger.warning("HiWonder module %s failed to load: %s", name, exc)
    return None


def open_hiwonder() -> HiwonderHardware | None:
    """The robot's hardware through whichever SDK is importable, or None."""
    module = _import_first(BOARD_MODULES)
    try:
        if module is not None:
            board = module.Board()
            board.enable_reception(True)
            adapter: _ControllerBoard | _LegacyBoard = _ControllerBoard(board)
        else:
            legacy = _import_first(LEGACY_BOARD_MODULES)
            if legacy is None:
                return None
            adapter = _LegacyBoard(legacy)
    except Exception as exc:  # noqa: BLE001 - no board on the serial port, permissions...
        logger.warning("HiWonder SDK present but the board cannot be opened: %s", exc)
        return None
    sonar_module = _import_first(SONAR_MODULES)
    sonar = None
    if sonar_module is not None:
        try:
            sonar = sonar_module.Sonar()
        except Exception as exc:  # noqa: BLE001
            logger.warning("sonar not available: %s", exc)
    logger.info("HiWonder SDK in use (%s)", type(adapter).__name__)
    return HiwonderHardware(adapter, sonar)


class HiwonderHardware:
    hardware_mode = "sdk"

    def __init__(self, board: Any, sonar: Any = None) -> None:
        self.board = board
        self.sonar = sonar
        self.read_errors = 0
        self._warned: set[str] = set()

    def _read(self, what: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - serial timeouts, garbled frames
            self.read_errors += 1
            if what not in self._warned:  # once per kind: a dead sensor must not flood the log
                self._warned.add(what)
                logger.warning("reading %s failed: %s (further failures counted only)", what, exc)
            return None

    def update(self, now_s: float) -> None:
        """Nothing to integrate: the hardware keeps its own time."""

    def battery(self) -> Reading | None:
        millivolts = _first(self._read("battery", self.board.battery_mv))
        if not isinstance(millivolts, int | float) or millivolts <= 0:
            return None
        volts = millivolts / 1000.0
        return {"percentage": round(voltage_to_percentage(volts), 1), "voltage": round(volts, 3),
                "current": None, "charging": False}

    def servos(self) -> Reading | None:
        servos = []
        for servo_id in BUS_SERVO_IDS:
            values = self._read(f"servo {servo_id}", lambda sid=servo_id: self.board.servo(sid))
            if values is None or values[0] is None:
                continue
            pulse, temp, vin_mv, torque = values
            servos.append({
                "id": servo_id, "name": SERVO_NAMES[servo_id - 1],
                "position": round((pulse - PULSE_CENTER) * DEG_PER_PULSE, 1),
                "temperature": temp,
                "voltage": round(vin_mv / 1000.0, 2) if vin_mv is not None else None,
                "load": None,  # bus servos report no load
                "torque_enabled": bool(torque) if torque is not None else True,
            })
        return {"servos": servos} if servos else None

    def imu(self) -> Reading | None:
        values = self._read("imu", self.board.imu)
        if not isinstance(values, list | tuple) or len(values) < 6:
            return None
        ax, ay, az, gx, gy, gz = (float(v) for v in values[:6])
        return {"accel_x": ax * GRAVITY_M_S2, "accel_y": ay * GRAVITY_M_S2,
                "accel_z": az * GRAVITY_M_S2, "gyro_x": gx, "gyro_y": gy, "gyro_z": gz}

    def sensors(self) -> Reading | None:
        if self.sonar is None:
            return None
        distance_mm = self._read("sonar", self.sonar.getDistance)
        if not isinstance(distance_mm, int | float):
            return None
        return {"readings": [{"sensor_type": "ultrasonic_distance",
                              "value": round(distance_mm / 10.0, 1), "unit": "cm"}]}

    def drain_events(self) -> list[tuple[str, Reading]]:
        return []  # jobs on a real robot are reported by the programs that run them

    def stop_motion(self) -> None:
        self._read("stop", self.board.stop_servos)

    def resume_motion(self) -> None:
        """Motion on a real robot is driven by its own programs; nothing to re-arm here."""

    def emergency_stop(self, reason: str) -> None:
        logger.warning("emergency stop (%s): stopping every bus servo", reason)
        self._read("emergency stop", self.board.stop_servos)

    def perform(self, action: str, params: Mapping[str, Any]) -> tuple[bool, str]:
        return False, f"{action} is not supported on real hardware by this agent"
