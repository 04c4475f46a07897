"""Builds the configured history store: from the server settings (ingest, secrets from
services.secrets) or from a console connection profile (secrets from its keyring)."""

from __future__ import annotations

from services.connection_profile import ConnectionProfile
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


class HistoryNotConfigured(ValueError):
    """The connection profile does not say where history lives (or lacks its secret)."""


def open_profile_history(profile: ConnectionProfile, *, influx_token: str | None,
                         records_password: str | None) -> HistoryStore:
    """The console's history store for a lab connection profile.

    With an InfluxDB URL in the profile, that server (its token from the keyring);
    otherwise the SQL history next to the records in PostgreSQL, where `tonypi-ingest`
    keeps it with the `sql` backend.  Neither connects yet: the first query does, in
    the page's worker thread, and a dead server is reported there.
    """
    influx = profile.influx
    if influx.url:
        if not influx_token:
            raise HistoryNotConfigured(
                f"profile {profile.name!r} names InfluxDB at {influx.url} but the keyring "
                "holds no token for it (Connection settings > InfluxDB > token)")
        from services.history.influx_store import InfluxHistoryStore

        return InfluxHistoryStore(url=influx.url, org=influx.org, bucket=influx.bucket,
                                  token=influx_token)
    records_url = profile.records_url()
    if records_url is None:
        raise HistoryNotConfigured(f"profile {profile.name!r} names neither InfluxDB nor "
                                   "PostgreSQL, so there is no history to show")
    from services.history.sql_store import SqlHistoryStore

    return SqlHistoryStore(records_url, password=records_password)
