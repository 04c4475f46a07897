"""In lab mode the console opens the history store its connection profile names."""

from __future__ import annotations

from sqlalchemy.engine import make_url

from app.main import Endpoint, _open_history
from services.connection_profile import ConnectionProfile, MqttProfile, PostgresProfile
from services.history.sql_store import SqlHistoryStore
from tests.services.history.support import prepare_sql_schema


def test_a_lab_profile_gives_the_history_and_reports_tabs_their_store(pg_url, qtbot):
    from PySide6.QtWidgets import QWidget

    prepare_sql_schema(pg_url)
    url = make_url(pg_url)
    profile = ConnectionProfile("lab", MqttProfile(host="127.0.0.1", port=1883),
                                postgres=PostgresProfile(host=url.host, port=url.port,
                                                         database=url.database,
                                                         user=url.username))
    endpoint = Endpoint("127.0.0.1", 1883, label="lab", records_url=profile.records_url(),
                        records_password=url.password, profile=profile)
    parent = QWidget()
    qtbot.addWidget(parent)
    store = _open_history(None, endpoint, parent)
    try:
        assert isinstance(store, SqlHistoryStore)
        assert store.list_robots() == []  # it reaches the lab's database
    finally:
        store.close()
