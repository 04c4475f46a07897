"""One test per hostile value: refused with a typed reason, or repaired with a note."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from services.wire import ParseError, ParseErrorReason, parse_message
from services.wire import parse as parse_module
from services.wire.values import MAX_JSON_DEPTH, MAX_TEXT_CHARS
from tests.services.wire.legacy_samples import JOB_EVENT_STARTED, JOB_PROGRESS, LEGACY_MESSAGES
from tests.services.wire.strategies import encode_body

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
R = ParseErrorReason
RID = "tonypi_raspberrypi"
STATUS = LEGACY_MESSAGES[f"tonypi/status/{RID}"]


@pytest.fixture(autouse=True)
def no_safety_net():
    before = parse_module.safety_net_hits()
    yield
    assert parse_module.safety_net_hits() == before, "a payload reached the safety net"


def parse(topic, body):
    return parse_message(topic, encode_body(body), NOW)


def refused(topic, body):
    with pytest.raises(ParseError) as info:
        parse(topic, body)
    return info.value.reason


def own(kind="performance", data=None, **envelope):
    body = {"v": 1, "robot_id": "r1", "seq": 1, "ts": NOW.isoformat(),
            "data": {"cpu_percent": 1.0} if data is None else data}
    body.update(envelope)
    return f"tonypi/{kind}/r1", body


def own_job(**data):
    return own("job", {"job_id": "j1", "task_name": "sort", "status": "started", **data})


def legacy_job(**fields):
    return f"tonypi/job/{RID}", dict(JOB_PROGRESS, **fields)


# --- the known safety-net cases --------------------------------------------------------

def test_year_one_timestamp_with_positive_offset_is_a_bad_field():
    assert refused(*own(ts="0001-01-01T00:00:00+14:00")) is R.BAD_FIELD


def test_legacy_elapsed_time_1e11_drops_the_start_time_only():
    message = parse(*legacy_job(elapsed_time=1e11))
    assert message.job.start_time is None
    assert "dropped:elapsed_time:range" in message.notes


@pytest.mark.parametrize("marker", ["@@BIGINT@@", "@@BIGFLOATINT@@"])
def test_400_digit_number_where_a_float_belongs(marker):
    assert refused(*own(data={"cpu_percent": marker})) is R.BAD_FIELD
    message = parse("tonypi/battery", dict(LEGACY_MESSAGES["tonypi/battery"], voltage=marker))
    assert "voltage" not in message.samples[0].fields
    # json gives inf for the float spelling, a huge int for the other
    assert message.notes in (("dropped:voltage:range",), ("dropped:voltage:not_finite",))


@pytest.mark.parametrize("status", ["", None, 5])
def test_own_status_without_a_usable_status_string(status):
    data = {"status": status} if status is not None else {}
    assert refused(*own("status", data)) in (R.BAD_FIELD, R.MISSING_FIELD)


# --- v must be the integer 1 -----------------------------------------------------------

@pytest.mark.parametrize("version", [True, 1.0, "1", 2, None, [1]])
def test_format_version_must_be_the_integer_one(version):
    assert refused(*own(v=version)) is R.UNSUPPORTED_VERSION


# --- text: NUL and lone surrogates ---------------------------------------------------

@pytest.mark.parametrize(("raw", "clean", "note"), [
    ("boom\x00!", "boom!", "stripped_nul"),
    ("bad \ud800 half", "bad \ufffd half", "replaced_surrogate"),
    ("\udfff", "\ufffd", "replaced_surrogate"),
])
def test_log_text_is_repaired_with_a_note(raw, clean, note):
    for topic, body in (own("logs", {"level": "INFO", "message": raw}),
                        (f"tonypi/logs/{RID}", {"robot_id": RID, "message": raw})):
        message = parse(topic, body)
        assert message.log.message == clean
        assert note in message.notes


def test_reason_and_task_name_are_repaired():
    message = parse(*own_job(task_name="so\x00rt", reason="x\ud83dy", status="failed"))
    assert (message.job.task_name, message.job.reason) == ("sort", "x\ufffdy")
    assert set(message.notes) == {"stripped_nul", "replaced_surrogate"}


def test_last_item_strings_and_keys_are_repaired():
    message = parse(*legacy_job(last_item={"id\x00": "a\ud800", "n": [1, "\x00"]}))
    assert message.job.last_item == {"id": "a\ufffd", "n": [1, ""]}
    assert {"stripped_nul", "replaced_surrogate"} <= set(message.notes)


def test_identifiers_with_nul_are_refused():
    body = {"robot_id": RID, "sensor_type": "dist\x00", "value": 1.0}
    assert refused(f"tonypi/sensors/{RID}", body) is R.BAD_FIELD
    assert refused("tonypi/battery", {"robot_id": "r\x001"}) is R.BAD_ROBOT_ID


def test_unit_with_a_line_break_is_dropped_from_legacy_and_refused_in_ours():
    body = {"robot_id": RID, "sensor_type": "dist", "value": 1.0, "unit": "c\nm"}
    message = parse(f"tonypi/sensors/{RID}", body)
    assert message.samples[0].tags == {"sensor_type": "dist"}
    assert "dropped:unit:bad_text" in message.notes
    reading = {"sensor_type": "dist", "value": 1.0, "unit": "c\nm"}
    assert refused(*own("sensors", {"readings": [reading]})) is R.BAD_FIELD


# --- column widths ---------------------------------------------------------------------

def test_over_long_addresses_are_dropped_not_cut():
    message = parse(f"tonypi/status/{RID}", dict(STATUS, ip_address="1" * 46,
                                                 camera_url="http://" + "a" * 250))
    assert (message.status.ip_address, message.status.camera_url) == (None, None)
    assert {"dropped:ip_address:too_long", "dropped:camera_url:too_long"} <= set(message.notes)
    assert refused(*own("status", {"status": "online", "ip_address": "1" * 46})) is R.BAD_FIELD


def test_over_long_free_text_is_cut_to_its_column():
    message = parse(f"tonypi/job/{RID}", dict(JOB_EVENT_STARTED, task_name="t" * 150))
    assert message.job.task_name == "t" * 100
    assert "truncated:task_name" in message.notes
    message = parse(*own("logs", {"message": "m" * (MAX_TEXT_CHARS + 5)}))
    assert len(message.log.message) == MAX_TEXT_CHARS


def test_over_long_job_key_is_refused_or_dropped():
    assert refused(*own_job(job_id="j" * 101)) is R.BAD_FIELD
    message = parse(*legacy_job(start_time="s" * 101))
    assert message.job.job_key is None and "dropped:start_time:too_long" in message.notes


# --- integer ranges and finite numbers ------------------------------------------------

@pytest.mark.parametrize("value", [3_000_000_000, 2**31, -1])
def test_items_outside_a_32_bit_column(value):
    assert refused(*own_job(items_total=value)) is R.BAD_FIELD
    message = parse(*legacy_job(items_total=value, items_done=value))
    assert (message.job.items_total, message.job.items_done) == (None, None)
    assert "dropped:items_total:range" in message.notes


def test_items_at_the_32_bit_limit_pass():
    assert parse(*own_job(items_total=2**31 - 1)).job.items_total == 2**31 - 1


@pytest.mark.parametrize("seq", [2**63, -(2**63) - 1, "@@BIGINT@@", 1.5, True])
def test_seq_must_fit_bigint(seq):
    assert refused(*own(seq=seq)) is R.BAD_FIELD


@pytest.mark.parametrize("marker", ["@@INF@@", "@@NEGINF@@"])
def test_1e400_is_not_finite(marker):
    assert refused(*own(data={"cpu_percent": marker})) is R.BAD_FIELD
    message = parse("tonypi/location", {"robot_id": RID, "x": marker, "y": 1.0})
    assert message.samples[0].fields == {"y": 1.0}
    assert "dropped:x:not_finite" in message.notes
    body = {"robot_id": RID, "sensor_type": "dist", "value": marker}
    assert refused(f"tonypi/sensors/{RID}", body) is R.BAD_FIELD  # required


# --- raw JSON: depth and size ----------------------------------------------------------

def nested(depth):
    value = "bottom"
    for _ in range(depth):
        value = {"k": value}
    return value


def test_deep_last_item():
    assert refused(*own_job(last_item=nested(40))) is R.BAD_FIELD
    message = parse(*legacy_job(last_item=nested(40)))
    assert message.job.last_item is None and "dropped:last_item:too_deep" in message.notes
    assert parse(*legacy_job(last_item=nested(MAX_JSON_DEPTH))).job.last_item is not None


def test_large_last_item():
    big = {"blob": "x" * 100_000}  # under the payload limit, over the JSON one
    assert refused(*own_job(last_item=big)) is R.BAD_FIELD
    message = parse(*legacy_job(last_item=big))
    assert message.job.last_item is None and "dropped:last_item:too_large" in message.notes


def test_one_megabyte_last_item_is_refused_whole_as_oversized():
    assert refused(*legacy_job(last_item={"blob": "x" * 1_000_000})) is R.OVERSIZED


@pytest.mark.parametrize("marker", ["@@INF@@", "@@BIGINT@@"])
def test_last_item_numbers_must_be_finite_and_int64(marker):
    message = parse(*legacy_job(last_item={"n": marker}))
    assert message.job.last_item is None
    assert any(note.startswith("dropped:last_item:") for note in message.notes)


def test_command_response_details_are_cleaned_or_dropped():
    body = dict(LEGACY_MESSAGES["tonypi/commands/response"], extra="a\x00b")
    assert parse("tonypi/commands/response", body).command_response.details == {"extra": "ab"}
    body = dict(body, extra=nested(40))
    message = parse("tonypi/commands/response", body)
    assert message.command_response.details is None
    assert "dropped:details:too_deep" in message.notes


# --- timestamps ------------------------------------------------------------------------

@pytest.mark.parametrize("ts", ["9999-12-31T23:59:59-14:00", "1600-01-01T00:00:00+00:00",
                                "2262-04-12T00:00:00+00:00", "1969-12-31T23:59:59+00:00",
                                "2026-11-22T12:00:00+00:00" + " " * 60])
def test_timestamps_outside_the_window(ts):
    assert refused(*own(ts=ts)) is R.BAD_FIELD
    assert refused(*own_job(start_time=ts)) is R.BAD_FIELD


def test_window_edges_inside():
    assert parse(*own(ts="1970-01-01T00:00:00+00:00")).time.year == 1970
    assert parse(*own(ts="2199-12-31T23:59:59+00:00")).time.year == 2199


def test_legacy_elapsed_time_before_the_window_is_dropped():
    seconds = (NOW - datetime(1960, 1, 1, tzinfo=UTC)).total_seconds()
    message = parse(*legacy_job(elapsed_time=seconds))
    assert message.job.start_time is None and "dropped:elapsed_time:range" in message.notes
    assert parse(*legacy_job(elapsed_time=60)).job.start_time == NOW - timedelta(seconds=60)


# --- the project's format on shared topics --------------------------------------------

@pytest.mark.parametrize("topic", ["tonypi/battery", "tonypi/location",
                                   "tonypi/commands/response",
                                   "tonypi/emergency_stop/response"])
def test_own_format_refused_on_shared_topics(topic):
    body = {"v": 1, "robot_id": "victim", "seq": 42, "ts": NOW.isoformat(),
            "data": {"percentage": 50.0, "x": 1.0}}
    assert refused(topic, body) is R.OWN_FORMAT_ON_SHARED_TOPIC


@pytest.mark.parametrize("topic", ["tonypi/battery", "tonypi/location"])
def test_legacy_payloads_on_shared_topics_still_parse(topic):
    assert parse(topic, LEGACY_MESSAGES[topic]).robot_id == RID


@pytest.mark.parametrize("topic", ["tonypi/status", "tonypi/job", "tonypi/logs"])
def test_other_id_less_topics_are_unknown(topic):
    assert refused(topic, LEGACY_MESSAGES[f"tonypi/status/{RID}"]) is R.UNKNOWN_TOPIC


# --- the tolerant legacy reader ---------------------------------------------------------

def test_legacy_status_with_boolean_hardware_fields():
    message = parse(f"tonypi/status/{RID}", dict(STATUS, emergency_stopped=True,
                                                 emergency_reason="button"))
    status = message.status
    assert (status.ip_address, status.camera_url) == (
        "192.168.1.50", "http://192.168.1.50:8081/?action=stream")
    assert (status.emergency_stopped, status.emergency_reason) == (True, "button")
    assert status.hardware_mode == "sdk" and status.platform == "Linux-6.6-rpi"
    assert message.samples[0].fields["cpu_percent"] == 23.5
    assert message.notes == ()


@pytest.mark.parametrize(("mode", "sdk", "expected"), [
    (False, False, "simulation"), (None, True, "sdk"), ("sdk", None, "sdk"), (None, None, None),
])
def test_hardware_mode_vocabulary(mode, sdk, expected):
    info = {k: v for k, v in (("hardware_mode", mode), ("hardware_sdk", sdk)) if v is not None}
    body = dict(STATUS, system_info=dict(STATUS["system_info"], **info))
    for key in ("hardware_mode", "hardware_sdk"):
        if key not in info:
            del body["system_info"][key]
    assert parse(f"tonypi/status/{RID}", body).status.hardware_mode == expected


def test_system_info_error_is_a_status_without_performance():
    message = parse(f"tonypi/status/{RID}", dict(STATUS, system_info={"error": "psutil"}))
    assert message.status.status == "online" and message.samples == ()
    assert message.notes == ()


def test_wrong_type_optional_fields_are_dropped_with_notes():
    body = dict(STATUS, ip_address=19216801, emergency_stopped="no",
                system_info=dict(STATUS["system_info"], hardware_mode=[1], cpu_percent="23"))
    message = parse(f"tonypi/status/{RID}", body)
    assert message.status.ip_address is None and message.status.emergency_stopped is False
    assert message.status.hardware_mode == "sdk"  # from hardware_sdk
    assert "cpu_percent" not in message.samples[0].fields
    assert set(message.notes) == {"dropped:ip_address:type", "dropped:emergency_stopped:type",
                                  "dropped:system_info.hardware_mode:type",
                                  "dropped:system_info.cpu_percent:type"}
    message = parse(f"tonypi/status/{RID}", dict(STATUS, system_info="unavailable"))
    assert message.notes == ("dropped:system_info:type",) and message.samples == ()


@pytest.mark.parametrize(("topic", "body"), [
    (f"tonypi/sensors/{RID}", {"robot_id": RID, "sensor_type": "dist", "value": "1"}),
    (f"tonypi/sensors/{RID}", {"robot_id": RID, "value": 1.0}),
    (f"tonypi/servos/{RID}", {"robot_id": RID, "servos": [1, 2]}),
    (f"tonypi/job/{RID}", dict(JOB_PROGRESS, status=3)),
    (f"tonypi/logs/{RID}", {"robot_id": RID, "message": 42}),
    ("tonypi/battery", {"robot_id": 7, "percentage": 5.0}),
])
def test_required_legacy_fields_still_refuse(topic, body):
    assert refused(topic, body) in (R.BAD_FIELD, R.MISSING_FIELD, R.BAD_ROBOT_ID)


def test_notes_never_carry_payload_text():
    body = dict(STATUS, **{"ip_address": {"evil\x00key": 1}})
    notes = parse(f"tonypi/status/{RID}", body).notes
    assert notes == ("dropped:ip_address:type",)


def test_status_payload_of_the_notes_round_trips_through_json():
    message = parse(f"tonypi/status/{RID}", STATUS)
    assert json.loads(json.dumps(list(message.notes))) == []
