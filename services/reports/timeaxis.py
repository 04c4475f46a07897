"""Clock-time axes for report charts: tick positions, their labels and the zone's name.

Charts put times of day on the x axis ("04:10", "Dec 06 04:10" once the axis spans
days), never "hours since": a supervisor compares a chart with the alert list and the
lab log, both of which say clock times.  Every time is shown in one zone, named on the
page (UTC unless the caller passes the viewer's zone).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

logger = logging.getLogger(__name__)

# Steps people count in; the first that keeps the labels from touching is used.
TICK_STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800,
                21600, 43200, 86400, 2 * 86400, 7 * 86400, 14 * 86400, 28 * 86400)
DAY_S = 86400
LABEL_CHAR_PT = 0.56  # Helvetica's mean advance per digit/letter, in font sizes
LABEL_GAP_PT = 10.0


def zone_name(tz: tzinfo, at: datetime) -> str:
    """"UTC", or "Europe/Berlin (CET, UTC+01:00)" so that nobody has to guess the offset."""
    local = at.astimezone(tz)
    offset = local.utcoffset() or timedelta(0)
    if offset == timedelta(0) and local.tzname() in ("UTC", "GMT", None):
        return "UTC"
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    key = getattr(tz, "key", None)  # zoneinfo.ZoneInfo's IANA name
    short = f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    abbreviation = local.tzname()
    if key:
        return f"{key} ({abbreviation}, {short})"
    return f"{abbreviation} ({short})" if abbreviation and abbreviation != short else short


def _spans_days(first: datetime, last: datetime) -> bool:
    """True when [first, last] touches two local dates; a range ending exactly at midnight
    stays on one day (its last tick reads 24:00)."""
    end = last - timedelta(microseconds=1) if last > first else last
    return first.date() != end.date()


def clock(moment: datetime, tz: tzinfo, *, seconds: bool = False, date: bool = False,
          day_start: datetime | None = None) -> str:
    """A moment as the axis and captions write it; midnight after `day_start`'s date is
    "24:00" so that a day reads 00:00-24:00."""
    local = moment.astimezone(tz)
    if (day_start is not None and not date and local.time() == datetime.min.time()
            and local.date() > day_start.astimezone(tz).date()):
        return "24:00:00" if seconds else "24:00"
    text = local.strftime("%H:%M:%S" if seconds else "%H:%M")
    return f"{local.strftime('%b %d')} {text}" if date else text


@dataclass(frozen=True)
class TimeTicks:
    """Tick positions in seconds from `origin` and the label of each."""

    origin: datetime
    positions: list[float]
    labels: list[str]
    step_s: int
    multi_day: bool


def time_ticks(first: datetime, last: datetime, tz: tzinfo, width_pt: float,
               font_size: float) -> TimeTicks:
    """Ticks on round clock times within [first, last], as many as fit in `width_pt`."""
    span_s = max((last - first).total_seconds(), 1e-6)
    multi_day = _spans_days(first.astimezone(tz), last.astimezone(tz))
    step_s = TICK_STEPS_S[-1]
    for candidate in TICK_STEPS_S:
        chars = 6 if candidate >= DAY_S else (8 if candidate < 60 else 5)
        if multi_day and candidate < DAY_S:
            chars += 7  # "Dec 06 "
        label_pt = chars * LABEL_CHAR_PT * font_size + LABEL_GAP_PT
        if span_s / candidate * label_pt <= width_pt:
            step_s = candidate
            break
    # Align to the zone's clock (04:00, 06:00 local), using the offset at the first tick.
    offset_s = (first.astimezone(tz).utcoffset() or timedelta(0)).total_seconds()
    epoch = first.timestamp() + offset_s
    tick = -(-epoch // step_s) * step_s
    if step_s >= 7 * DAY_S:  # weeks and longer: whole days from the first one, not epoch
        tick = -(-epoch // DAY_S) * DAY_S
    positions: list[float] = []
    labels: list[str] = []
    end = last.timestamp() + offset_s
    while tick <= end + 1e-6:
        moment = datetime.fromtimestamp(tick - offset_s, first.tzinfo)
        positions.append((moment - first).total_seconds())
        if step_s >= DAY_S:
            labels.append(moment.astimezone(tz).strftime("%b %d"))
        else:
            labels.append(clock(moment, tz, seconds=step_s < 60, date=multi_day,
                                day_start=first))
        tick += step_s
    return TimeTicks(first, positions, labels, step_s, multi_day)


def span_text(first: datetime, last: datetime, tz: tzinfo, seconds: bool = False) -> str:
    """"04:10-04:14", "00:00-24:00" or "Dec 05 12:00-Dec 06 12:00"."""
    date = _spans_days(first.astimezone(tz), last.astimezone(tz))
    return (f"{clock(first, tz, seconds=seconds, date=date)}-"
            f"{clock(last, tz, seconds=seconds, date=date, day_start=first)}")


def coverage_text(data_first: datetime, data_last: datetime, start: datetime,
                  stop: datetime, tz: tzinfo) -> str:
    """"data from 04:10 to 04:14 of the requested 00:00-24:00"."""
    seconds = (stop - start) <= timedelta(minutes=10) or (data_last - data_first) < timedelta(
        minutes=2)
    date = _spans_days(start.astimezone(tz), stop.astimezone(tz))
    if not seconds:  # to the nearest minute: 04:13:56 reads 04:14, not 04:13
        data_first, data_last = _nearest_minute(data_first), _nearest_minute(data_last)
    return (f"data from {clock(data_first, tz, seconds=seconds, date=date)} to "
            f"{clock(data_last, tz, seconds=seconds, date=date, day_start=start)} "
            f"of the requested {span_text(start, stop, tz)}")


def _nearest_minute(moment: datetime) -> datetime:
    return (moment + timedelta(seconds=30)).replace(second=0, microsecond=0)
