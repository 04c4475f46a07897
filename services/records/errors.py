"""Typed errors of the records layer, so callers can tell "retry later" from "bad input"."""

from __future__ import annotations


class RecordsError(Exception):
    """Base class of every error raised by services.records."""


class RecordsUnavailable(RecordsError):
    """The records database cannot be reached (server down, refused, bad credentials).

    The message names the host and database, never the password; the caller may retry.
    """


class InvalidRecord(RecordsError, ValueError):
    """A value the schema does not accept (naive datetime, unknown status, id too long)."""


class UnknownRobot(RecordsError, LookupError):
    """The robot id is not registered in the robots table."""
