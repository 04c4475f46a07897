"""The Flux the InfluxDB history store sends: fixed templates, values only as parameters.

influxdb-client turns `query(..., params={...})` into an `extern` block of option
statements (`option p_robot_id = "..."`), so every value reaches InfluxDB as a typed
literal and the query text below never changes.  A robot id such as `x") |> drop(` is
therefore data.  The test emulator imports these constants to recognise the queries.
"""

from __future__ import annotations

# Parameter names: prefixed so they never shadow a Flux builtin or a column name.
P_BUCKET = "p_bucket"
P_ROBOT_ID = "p_robot_id"
P_MEASUREMENT = "p_measurement"
P_FIELD = "p_field"
P_SERIES = "p_series"
P_START = "p_start"
P_STOP = "p_stop"
P_EVERY = "p_every"
P_OFFSET = "p_offset"

# The bookkeeping field that carries Sample.seq; not a Sample field, so never listed.
SEQ_FIELD = "seq"
# Tags that identify a series inside a measurement, in Sample.series order.
SERIES_TAGS = ("servo_id", "sensor_type")

# min/max/mean/count of one series per window.  Windows are `p_every` wide and start at
# the range start (`p_offset` = start modulo every, since Flux aligns windows at the
# epoch); empty windows produce no table.  Booleans become 0.0/1.0 (toFloat).  The
# series expression mirrors Sample.series: servo_id, else sensor_type, else "".
# group() merges series that differ only in other tags (unit) before windowing.
DOWNSAMPLE = """\
data = from(bucket: p_bucket)
    |> range(start: p_start, stop: p_stop)
    |> filter(fn: (r) => r._measurement == p_measurement and r.robot_id == p_robot_id and r._field == p_field)
    |> filter(fn: (r) => (if exists r.servo_id then r.servo_id else if exists r.sensor_type then r.sensor_type else "") == p_series)
    |> toFloat()
    |> group()
    |> window(every: p_every, offset: p_offset, createEmpty: false)

union(tables: [
    data |> min() |> keep(columns: ["_start", "_value"]) |> set(key: "_stat", value: "min"),
    data |> max() |> keep(columns: ["_start", "_value"]) |> set(key: "_stat", value: "max"),
    data |> mean() |> keep(columns: ["_start", "_value"]) |> set(key: "_stat", value: "mean"),
    data |> count() |> toFloat() |> keep(columns: ["_start", "_value"]) |> set(key: "_stat", value: "count"),
])
    |> group()
    |> pivot(rowKey: ["_start"], columnKey: ["_stat"], valueColumn: "_value")
    |> sort(columns: ["_start"])
"""  # noqa: E501

# Distinct robot ids in [p_start, p_stop): one table, one `_value` column.
LIST_ROBOTS = """\
import "influxdata/influxdb/schema"

schema.tagValues(bucket: p_bucket, tag: "robot_id", start: p_start, stop: p_stop)
    |> sort()
"""

# One row per stored series of a robot (last() is pushed down to the storage engine);
# keep() leaves measurement, field and whichever series tag the series has.
LIST_FIELDS = """\
from(bucket: p_bucket)
    |> range(start: p_start, stop: p_stop)
    |> filter(fn: (r) => r.robot_id == p_robot_id and r._field != "seq")
    |> last()
    |> keep(columns: ["_measurement", "_field", "servo_id", "sensor_type"])
"""

TEMPLATES = (DOWNSAMPLE, LIST_ROBOTS, LIST_FIELDS)
