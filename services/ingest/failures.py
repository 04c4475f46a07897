"""Tells a store that is down from a message a store refuses.

Down (connection refused, timeouts, a server restarting): keep the batch, retry, and
acknowledge nothing, so the broker keeps everything.  Refused (a value the database will
never take, a constraint the message breaks, a bug the message triggers): retrying the
same data can never succeed, so the message is isolated and dead-lettered while the rest
of its batch is stored.  Getting this wrong one way stalls every robot for ever; the
other way loses data, so anything that could be an outage counts as one.
"""

from __future__ import annotations

from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from services.history.base import StoreError, StoreRefused
from services.records.errors import InvalidRecord, RecordsUnavailable

# Unique constraints that are how the ingest stays idempotent: two instances (or a
# redelivery racing its original) can trip them, and a retry then finds the row and
# skips it, so they are transient, not a refusal.
IDEMPOTENCY_CONSTRAINTS = ("ingest_receipts", "ux_alerts_open")


def is_refused(exc: BaseException) -> bool:
    """True when retrying the same data cannot succeed."""
    if isinstance(exc, StoreRefused | InvalidRecord | DataError):
        return True
    if isinstance(exc, IntegrityError):
        detail = str(getattr(exc, "orig", None) or exc)
        return not any(name in detail for name in IDEMPOTENCY_CONSTRAINTS)
    if isinstance(exc, StoreError | RecordsUnavailable | SQLAlchemyError):
        return False
    # Anything else (TypeError, ValueError...) is a fault this data triggers in our own
    # code: it would fail the same way on every retry.
    return isinstance(exc, Exception)


def describe(exc: BaseException) -> str:
    """One line naming the error, the driver's message rather than SQLAlchemy's SQL dump."""
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {detail[0] if detail else ''}"[:500]
