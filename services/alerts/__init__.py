"""Alerts: the pure rule engine (engine.py, rules.py); storage and announcements beside it."""

from services.alerts.engine import AlertChange, AlertEngine
from services.alerts.rules import METRICS, RuleSettings

__all__ = ["METRICS", "AlertChange", "AlertEngine", "RuleSettings"]
