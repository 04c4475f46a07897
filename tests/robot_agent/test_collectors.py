from __future__ import annotations

import sys
import types

import pytest

from robot_agent.collectors import choose_hardware
from robot_agent.collectors.hiwonder import open_hiwonder
from robot_agent.collectors.simulation import SimulatedRobot
from robot_agent.collectors.system import SystemCollector


def test_system_collector_reads_this_host(tmp_path):
    collector = SystemCollector()
    data = collector.performance()
    assert set(data) == {"cpu_percent", "memory_percent", "disk_percent", "cpu_temperature",
                         "uptime_s"}
    assert 0 <= data["cpu_percent"] <= 100 and 0 < data["memory_percent"] <= 100
    assert 0 < data["disk_percent"] <= 100 and data["uptime_s"] > 0
    assert data["cpu_temperature"] is None or -40 < data["cpu_temperature"] < 150


def test_cpu_temperature_falls_back_to_the_thermal_zone_file(tmp_path, monkeypatch):
    zone = tmp_path / "temp"
    zone.write_text("48312\n")
    monkeypatch.setattr("psutil.sensors_temperatures", lambda: {}, raising=False)
    assert SystemCollector(thermal_zone=zone).cpu_temperature() == 48.3
    assert SystemCollector(thermal_zone=tmp_path / "absent").cpu_temperature() is None


def test_without_the_sdk_the_simulation_is_chosen():
    assert open_hiwonder() is None  # no HiWonder SDK on this machine
    assert isinstance(choose_hardware(False, "normal", seed=1), SimulatedRobot)
    assert isinstance(choose_hardware(True, "job", seed=1), SimulatedRobot)


class ControllerBoard:
    """Answers like ros_robot_controller_sdk.Board on a robot: reads as [value] lists."""

    def __init__(self):
        self.stopped = []

    def enable_reception(self, enable):
        self.receiving = enable

    def get_battery(self):
        return 11480  # mV

    def get_imu(self):
        return (0.01, -0.02, 1.0, 0.5, -0.25, 0.0)  # g and deg/s

    def bus_servo_read_position(self, servo_id):
        return [875] if servo_id != 5 else None  # servo 5 does not answer

    def bus_servo_read_temp(self, servo_id):
        return [41]

    def bus_servo_read_vin(self, servo_id):
        return [11350]

    def bus_servo_read_torque_state(self, servo_id):
        return [1]

    def bus_servo_stop(self, servo_ids):
        self.stopped.extend(servo_ids)


@pytest.fixture
def controller_sdk(monkeypatch):
    """The SDK module as it is importable on a robot, backed by ControllerBoard."""
    module = types.ModuleType("ros_robot_controller_sdk")
    module.Board = ControllerBoard
    monkeypatch.setitem(sys.modules, "ros_robot_controller_sdk", module)
    return module


def test_sdk_readings_are_converted_to_the_wire_units(controller_sdk):
    hardware = choose_hardware(False, "normal", seed=1)
    assert hardware.hardware_mode == "sdk"
    battery = hardware.battery()
    assert battery["voltage"] == 11.48 and 40 < battery["percentage"] < 50  # 3.83 V/cell
    servos = hardware.servos()["servos"]
    assert 5 not in [s["id"] for s in servos] and len(servos) == 15
    assert servos[0] == {"id": 1, "name": "Right Ankle Roll", "position": 90.0,
                         "temperature": 41, "voltage": 11.35, "load": None,
                         "torque_enabled": True}
    imu = hardware.imu()
    assert imu["accel_z"] == pytest.approx(9.80665) and imu["gyro_y"] == -0.25
    assert hardware.sensors() is None  # no sonar module
    hardware.emergency_stop("test")
    assert hardware.board.board.stopped == list(range(1, 17))
    assert hardware.perform("move", {})[0] is False


def test_failing_sdk_reads_give_none_and_are_counted(controller_sdk, caplog):
    def broken(self):
        raise TimeoutError("serial timeout")

    controller_sdk.Board.get_battery = broken
    hardware = open_hiwonder()
    assert hardware.battery() is None and hardware.battery() is None
    assert hardware.read_errors == 2
    assert sum("reading battery failed" in r.getMessage() for r in caplog.records) == 1


def test_simulated_robot_reports_a_cpu_temperature_where_the_host_has_none(tmp_path,
                                                                           monkeypatch):
    from robot_agent.agent import build_agent
    from robot_agent.collectors.system import SystemCollector
    from robot_agent.config import load_config

    monkeypatch.setattr(SystemCollector, "cpu_temperature", lambda self: None)
    config = load_config(env={}, overrides={"robot_id": "soc_test", "simulate": True,
                                            "outbox_path": str(tmp_path / "o.db")})
    agent = build_agent(config)
    try:
        data = agent.read("performance")
    finally:
        agent.outbox.close()
    assert 40.0 <= data["cpu_temperature"] <= 80.0
