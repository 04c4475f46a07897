import socket

import psycopg


def test_mosquitto_fixture_listens(mosquitto):
    with socket.create_connection(("127.0.0.1", mosquitto.port), timeout=1):
        pass


def test_postgres_fixture_gives_fresh_database(pg_url):
    dsn = pg_url.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(dsn) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
