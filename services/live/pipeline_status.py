"""What the console shows of the pipeline's health: plain data, for widgets.

Kept apart from services.live.pipeline (which owns the MQTT subscription) so that a view
can take these without importing anything that talks to a broker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class InstanceStatus:
    instance: str
    up: bool
    state: str  # online | offline, as the instance last said
    report_age_s: float  # since its last report (retained: since the report's own time)
    counters: dict[str, int]
    queue_depth: int
    store_lag_s: float | None
    last_store_at: datetime | None
    rejected_per_min: float
    dead_lettered_per_min: float

    @property
    def why_down(self) -> str:
        if self.up:
            return ""
        if self.state == "offline":
            return "offline"
        return f"silent for {self.report_age_s:.0f} s"


@dataclass(frozen=True, slots=True)
class PipelineStatus:
    instances: tuple[InstanceStatus, ...]
    waiting: bool  # no report yet and still within the grace period

    @property
    def up_count(self) -> int:
        return sum(1 for item in self.instances if item.up)

    @property
    def alive(self) -> bool:
        return self.up_count > 0

    @property
    def no_ingest(self) -> bool:
        """Nothing stores the data: every instance is down, or none ever reported."""
        return not self.waiting and not self.alive

    @property
    def worst_lag_s(self) -> float | None:
        lags = [item.store_lag_s for item in self.instances
                if item.up and item.store_lag_s is not None]
        return max(lags) if lags else None

    @property
    def rejected_per_min(self) -> float:
        return sum(item.rejected_per_min for item in self.instances if item.up)

    @property
    def dead_lettered_per_min(self) -> float:
        return sum(item.dead_lettered_per_min for item in self.instances if item.up)

    def summary(self) -> str:
        """One line for the status bar."""
        if self.waiting:
            return "Ingest: waiting for a report..."
        if not self.alive:
            return "Ingest: DOWN"
        total = len(self.instances)
        text = f"Ingest: {self.up_count}/{total} up" if total > 1 else "Ingest: up"
        lag = self.worst_lag_s
        if lag is not None:
            text += f", lag {lag:.1f} s"
        rejects = self.rejected_per_min + self.dead_lettered_per_min
        if rejects > 0:
            text += f", {rejects:.0f} rejected/min"
        return text
