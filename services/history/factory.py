"""Builds the configured history store; secrets come from services.secrets."""

from __future__ import annotations

from services.history.base import HistoryStore
from services.secrets import get_secret
from services.settings import ServerSettings


def open_history_store(settings: ServerSettings) -> HistoryStore:
    history = settings.history
    if history.backend == "influx":
        from services.history.influx_store import InfluxHistoryStore

        if not history.url:
            raise ValueError("history.url must name the InfluxDB server for backend 'influx'")
        return InfluxHistoryStore(url=history.url, org=history.org, bucket=history.bucket,
                                  token=get_secret("influx_token", required=True))
    from services.history.sql_store import SqlHistoryStore

    return SqlHistoryStore(history.url or settings.records.url, password=get_secret("database"))
