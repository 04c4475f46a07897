"""Words and values every layer shares: severities, log levels, the band's opacity.

Defined here once so the rule engine, the stores, the wire format, the PDF reports and
the widgets cannot drift apart (issue 12 found three SEVERITIES, two LOG_LEVELS and two
band opacities).  Standard library only and no imports at all: services.wire, and so
the robot agent, may import it without pulling anything else in.
"""

from __future__ import annotations

WARNING = "warning"
CRITICAL = "critical"
SEVERITIES = (WARNING, CRITICAL)  # mildest first: the index is the rank
SEVERITIES_WORST_FIRST = tuple(reversed(SEVERITIES))  # for summaries and counts on screen
SEVERITY_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES, start=1)}

# Python's logging names, which the robots send and logs.level stores.
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# Opacity of a history min/max band, as a fraction of opaque: the band is context, the
# mean line the reading.  60 of 255 is what the History page has always drawn; the PDF
# charts said 0.25 "as on the History page" and now take the same value.
BAND_ALPHA_FRACTION = 60 / 255
