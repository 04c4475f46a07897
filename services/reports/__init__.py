"""PDF reports (performance, job, system, battery, custom) generated locally with reportlab.

`generate_report` gathers from a HistoryStore and the records Database, renders the PDF
and records it in the `reports` table.  Pure services: no Qt; the UI runs it in a worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from services.history.base import HistoryStore
from services.records.db import Database
from services.reports.data import ReportData, alert_scope, gather
from services.reports.record import record_report
from services.reports.render import KIND_SECTIONS, SECTIONS, TitleBlock, render_pdf

logger = logging.getLogger(__name__)

__all__ = ["REPORT_KINDS", "SECTIONS", "ReportCancelled", "ReportResult", "generate_report"]

REPORT_KINDS = tuple(KIND_SECTIONS)
CHART_SECTIONS = frozenset({"performance", "temperature", "battery", "servos"})
GATHER_SHARE, RENDER_SHARE = 0.6, 0.3  # of the progress bar; the rest is the PDF build
KIND_TITLES = {"performance": "Performance report", "job": "Job report",
               "system": "System report", "battery": "Battery report",
               "custom": "Custom report"}


class ReportCancelled(Exception):
    """cancel() returned True; no file is left and nothing is recorded."""


@dataclass(frozen=True)
class ReportResult:
    path: Path
    report_id: int
    summary: dict[str, Any]


def _require_utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")
    return moment.astimezone(UTC)


def summarize(data: ReportData, sections: tuple[str, ...]) -> dict[str, Any]:
    """The JSON kept in reports.data: enough to list and compare reports without the PDF."""
    stats = {robot.robot_id: {signal.spec.label: {
        "min": signal.stats.min, "mean": signal.stats.mean, "max": signal.stats.max,
        "p95": signal.stats.p95, "samples": signal.stats.samples}
        for signal in robot.signals if signal.stats is not None}
        for robot in data.robot_data}
    return {
        "robots": data.robots, "start": data.start.isoformat(), "stop": data.stop.isoformat(),
        "sections": list(sections), "statistics": stats,
        "alerts": {"total": data.alerts.total, "counted": data.alerts.scope,
                   "by_severity": data.alerts.by_severity,
                   "by_type": data.alerts.by_type, "mean_ack_s": data.alerts.mean_ack_s},
        "jobs": {"total": len(data.jobs.rows), "by_status": data.jobs.by_status,
                 "success_rate": data.jobs.success_rate,
                 "items_per_hour": data.jobs.items_per_hour},
    }


def generate_report(kind: str, robot_ids: list[str], start: datetime, stop: datetime, *,
                    history: HistoryStore, database: Database, author: str,
                    out_path: str | Path, lab: str = "TonyPi lab",
                    progress: Callable[[float], None] | None = None,
                    cancel: Callable[[], bool] | None = None,
                    sections: tuple[str, ...] | None = None,
                    tz: tzinfo = UTC) -> ReportResult:
    """Generate one report. `sections` applies to kind "custom" only (default: all).

    The data is read in UTC whatever `tz` is; `tz` only says how times are written on
    the pages (the zone is named there).  Alerts are counted for the report's signals
    only; a report covering all of them (system, custom by default) counts every alert."""
    if kind not in KIND_SECTIONS:
        raise ValueError(f"unknown report type {kind!r}; expected one of {REPORT_KINDS}")
    if not robot_ids:
        raise ValueError("a report needs at least one robot")
    start, stop = _require_utc(start, "start"), _require_utc(stop, "stop")
    if stop <= start:
        raise ValueError("stop must be after start")
    chosen = KIND_SECTIONS[kind]
    if kind == "custom" and sections is not None:
        unknown = set(sections) - set(SECTIONS)
        if unknown:
            raise ValueError(f"unknown sections {sorted(unknown)}; expected {SECTIONS}")
        chosen = tuple(s for s in SECTIONS if s in sections)
    report = progress or (lambda _fraction: None)
    out = Path(out_path)

    def stepper(offset: float, share: float) -> Callable[[float], None]:
        def step(fraction: float) -> None:
            if cancel is not None and cancel():
                raise ReportCancelled(f"{kind} report cancelled")
            report(offset + share * fraction)
        return step

    needs_signals = bool(set(chosen) - {"alerts", "jobs"})
    groups = CHART_SECTIONS & set(chosen)
    data = gather(list(robot_ids), start, stop, history=history, database=database,
                  signals=needs_signals, step=stepper(0.0, GATHER_SHARE),
                  alerts_of=alert_scope(groups) if groups else None)
    title = TitleBlock(KIND_TITLES[kind], lab, author, datetime.now(UTC))
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        render_pdf(data, str(out), title, chosen, stepper(GATHER_SHARE, RENDER_SHARE), tz)
        stepper(GATHER_SHARE + RENDER_SHARE, 0.0)(0.0)  # last chance to cancel
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    summary = summarize(data, chosen)
    report_id = record_report(database, title=f"{title.title}: {', '.join(robot_ids)}",
                              kind=kind, robot_ids=list(robot_ids), summary=summary,
                              file_path=str(out.resolve()), author=author)
    report(1.0)
    return ReportResult(out, report_id, summary)
