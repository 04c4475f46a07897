"""AlertRow values for widget tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

NOW = datetime(2026, 11, 22, 10, 15, 0, tzinfo=UTC)


def alert(alert_id: int, *, minutes_ago: float = 0.0, **changes):
    from widgets.alert_model import AlertRow

    base = AlertRow(
        id=alert_id, robot_id="tonypi_01", alert_type="servo", source="servo_3",
        severity="critical", title="Servo 3 overheating", message="servo_3 at 76.2 °C",
        value=76.2, threshold=75.0, created_at=NOW - timedelta(minutes=minutes_ago))
    return replace(base, **changes)


def acknowledged(row, by: str = "alice", minutes_later: float = 1.0):
    return replace(row, acknowledged=True, acknowledged_by=by,
                   acknowledged_at=row.created_at + timedelta(minutes=minutes_later))


def mixed_alerts() -> list:
    """Six alerts of three robots in every state, raised over two days."""
    return [
        alert(1, minutes_ago=2),
        alert(2, minutes_ago=30, robot_id="tonypi_02", alert_type="battery", source="battery",
              severity="warning", title="Battery low", value=18.4, threshold=20.0),
        acknowledged(alert(3, minutes_ago=90, robot_id="tonypi_02", alert_type="performance",
                           source="cpu", severity="warning", value=82.5, threshold=70.0)),
        replace(alert(4, minutes_ago=120, robot_id="tonypi_03", alert_type="network",
                      source="connectivity", severity="warning", value=None, threshold=None),
                resolved=True, resolved_at=NOW - timedelta(minutes=100)),
        replace(acknowledged(alert(5, minutes_ago=60 * 30, robot_id="tonypi_03",
                                   alert_type="temperature", source="cpu_temperature",
                                   value=81.0, threshold=80.0), by="bob"),
                resolved=True, resolved_at=NOW - timedelta(hours=29)),
        alert(6, minutes_ago=60 * 24 * 3, robot_id="tonypi_01", alert_type="system",
              source="emergency_stop", value=None, threshold=None),
    ]
