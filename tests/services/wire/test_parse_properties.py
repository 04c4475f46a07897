"""Property tests: the parser is the contract.

Whatever (topic, payload) arrives, parse_message returns a Message or raises a typed
ParseError, never through its safety net; and whatever it accepts, the records and the
SQL history store on SQLite and PostgreSQL 15 hold, and InfluxDB line protocol encodes.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from services.history.influx_line import INT64_MAX, INT64_MIN, encode_sample
from services.history.sql_store import SqlHistoryStore
from services.ingest.records_writer import apply_records
from services.records.db import Database
from services.records.migrate import upgrade
from services.wire import ParseError, ParseErrorReason, parse_message
from services.wire import parse as parse_module
from services.wire.model import Message
from services.wire.values import MAX_NOTES, TIME_MAX, TIME_MIN
from tests.services.wire.strategies import messages

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
NOTE = re.compile(r"stripped_nul|replaced_surrogate|truncated:[a-z_.]{1,40}"
                  r"|dropped:[a-z_.]{1,40}:(type|range|not_finite|too_long|bad_text|bad_time"
                  r"|too_large|too_deep)")
UNSTORABLE_TEXT = re.compile("[\x00\ud800-\udfff]")
FAST = settings(max_examples=2000, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _numbers(value):
    if isinstance(value, float):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _numbers(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _numbers(item)


def assert_storable(message: Message) -> None:
    """What PostgreSQL refuses and SQLite stores, checked without a database."""
    assert all(NOTE.fullmatch(note) for note in message.notes), message.notes
    assert len(message.notes) <= MAX_NOTES
    parts = [message.status, message.job, message.log, message.command_response]
    texts = [getattr(part, name) for part in parts if part is not None
             for name in part.__slots__]
    texts += [sample.tags for sample in message.samples]
    for text in _strings(texts):
        assert not UNSTORABLE_TEXT.search(text), text
    for number in _numbers(texts):
        assert math.isfinite(number)
    assert TIME_MIN <= message.time < TIME_MAX
    for sample in message.samples:
        assert all(isinstance(v, bool) or math.isfinite(v) for v in sample.fields.values())
        assert sample.seq is None or INT64_MIN <= sample.seq <= INT64_MAX
        encode_sample(sample)  # raises if InfluxDB line protocol cannot carry it
    if message.job is not None:
        for count in (message.job.items_total, message.job.items_done):
            assert count is None or 0 <= count < 2**31


def parse_or_reason(topic: str, payload: bytes) -> Message | ParseErrorReason:
    before = parse_module.safety_net_hits()
    try:
        result: Message | ParseErrorReason = parse_message(topic, payload, NOW)
    except ParseError as exc:
        assert isinstance(exc.reason, ParseErrorReason)
        assert exc.topic == topic
        result = exc.reason
    assert parse_module.safety_net_hits() == before, (topic, payload[:200])
    return result


@FAST
@given(messages())
def test_anything_parses_or_is_refused_with_a_reason(pair):
    result = parse_or_reason(*pair)
    if isinstance(result, Message):
        assert_storable(result)


@FAST
@given(st.binary(max_size=200), st.text(max_size=40))
def test_raw_bytes_on_any_topic(payload, topic):
    parse_or_reason(topic, payload)


@pytest.fixture(params=["sqlite", "postgresql"])
def stores(request):
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    upgrade(url)
    database, history = Database(url), SqlHistoryStore(url)
    yield database, history
    history.close()
    database.dispose()


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large, HealthCheck.filter_too_much])
@given(data=st.data())
def test_every_accepted_message_stores_on_both_backends(stores, data):
    database, history = stores
    topic, payload = data.draw(messages(keep=12, noise=False, intact=True))
    result = parse_or_reason(topic, payload)
    if not isinstance(result, Message):
        event(f"refused: {result}")
        return
    event(f"stored: {result.kind}")
    assert_storable(result)
    with database.session() as session:
        apply_records(session, [result], NOW)
    before = history.stats()
    history.write(list(result.samples))
    after = history.stats()
    assert after.rejected_invalid == before.rejected_invalid
    assert after.rejected_non_finite == before.rejected_non_finite


def test_the_safety_net_is_counted(monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("a parser bug")

    monkeypatch.setattr(parse_module, "parse_legacy", broken)
    before = parse_module.safety_net_hits()
    with pytest.raises(ParseError) as info:
        parse_message("tonypi/logs/r1", b'{"message": "x"}', NOW)
    assert info.value.reason is ParseErrorReason.INTERNAL_ERROR
    assert parse_module.safety_net_hits() == before + 1
