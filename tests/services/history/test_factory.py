"""A console connection profile opens the history store the lab's ingest writes to."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from services.connection_profile import (
    ConnectionProfile,
    InfluxProfile,
    MqttProfile,
    PostgresProfile,
)
from services.history.factory import HistoryNotConfigured, open_profile_history
from services.history.influx_store import InfluxHistoryStore
from services.history.sql_store import SqlHistoryStore
from tests.services.history.support import T0, prepare_sql_schema, sample, seconds
from tests.support.influx_emulator import InfluxEmulator

MQTT = MqttProfile(host="127.0.0.1", port=1883)


def round_trip(store) -> list[str]:
    """Write two samples (durable on return) and read them back: the store is the lab's."""
    store.write([sample("lab_r1", T0, cpu_percent=10.0),
                 sample("lab_r1", T0 + seconds(1), cpu_percent=30.0)])
    buckets = store.query("lab_r1", "performance", "cpu_percent", T0, T0 + seconds(60), 1)
    assert [(b.min, b.max, b.count) for b in buckets] == [(10.0, 30.0, 2)]
    return store.list_robots()


def test_without_influx_the_sql_history_next_to_the_records_is_used(pg_url):
    prepare_sql_schema(pg_url)
    url = make_url(pg_url)
    profile = ConnectionProfile("lab", MQTT, postgres=PostgresProfile(
        host=url.host, port=url.port, database=url.database, user=url.username))
    store = open_profile_history(profile, influx_token=None, records_password=url.password)
    try:
        assert isinstance(store, SqlHistoryStore)
        assert round_trip(store) == ["lab_r1"]
    finally:
        store.close()


def test_with_influx_its_server_is_used_with_the_keyring_token():
    emulator = InfluxEmulator()
    emulator.start()
    try:
        profile = ConnectionProfile("lab", MQTT, influx=InfluxProfile(
            url=emulator.url, org="tonypi", bucket="robot_metrics"))
        store = open_profile_history(profile, influx_token=emulator.token,
                                     records_password=None)
        try:
            assert isinstance(store, InfluxHistoryStore)
            assert round_trip(store) == ["lab_r1"]
        finally:
            store.close()
    finally:
        emulator.stop()


def test_a_profile_without_history_or_token_says_what_is_missing():
    with pytest.raises(HistoryNotConfigured, match="no token"):
        open_profile_history(ConnectionProfile("lab", MQTT, influx=InfluxProfile(
            url="http://influx.lab:8086")), influx_token=None, records_password=None)
    with pytest.raises(HistoryNotConfigured, match="neither InfluxDB nor PostgreSQL"):
        open_profile_history(ConnectionProfile("lab", MQTT), influx_token=None,
                             records_password=None)
