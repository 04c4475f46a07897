"""Applies the record side of a batch of messages: robots, jobs, logs and alert changes,
in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from services.alerts.store import AlertStore
from services.ingest import receipts
from services.records.errors import InvalidRecord
from services.records.repositories import JobRepository, LogRepository, RobotRepository
from services.wire.model import Kind, Message

if TYPE_CHECKING:
    from services.alerts.engine import AlertChange
    from services.records.models import Alert

logger = logging.getLogger(__name__)

CATEGORY_INGEST = "mqtt"


@dataclass
class _RobotSeen:
    seen_at: datetime
    status: str | None = None
    ip_address: str | None = None
    camera_url: str | None = None


def _has_side_effects(message: Message) -> bool:
    return message.job is not None or message.log is not None or message.status is not None


def apply_records(session: Session, messages: Sequence[Message], now: datetime) -> list[str]:
    """Write what the messages say about robots, jobs and logs; return new robot ids."""
    keyed = [(m.robot_id, m.seq) for m in messages if m.seq is not None and _has_side_effects(m)]
    seen = receipts.already_seen(session, keyed)
    receipts.record(session, (k for k in dict.fromkeys(keyed) if k not in seen), now)

    # Robots first: jobs and logs refer to them.
    robots: dict[str, _RobotSeen] = {}
    for message in messages:
        state = robots.setdefault(message.robot_id, _RobotSeen(message.received_at))
        state.seen_at = max(state.seen_at, message.received_at)
        if message.status is not None:
            state.status = message.status.status
            state.ip_address = message.status.ip_address or state.ip_address
            state.camera_url = message.status.camera_url or state.camera_url
        elif message.kind is not Kind.COMMAND_RESPONSE:
            # Data from a robot means it is talking to us, whatever it said before.
            state.status = "online"

    registered = []
    robot_repo, jobs = RobotRepository(session), JobRepository(session)
    logs = LogRepository(session)
    for robot_id, state in robots.items():
        if robot_repo.touch(robot_id, state.seen_at, status=state.status,
                            ip_address=state.ip_address, camera_url=state.camera_url):
            registered.append(robot_id)
            logs.add("INFO", CATEGORY_INGEST, f"robot {robot_id} registered on first message",
                     robot_id=robot_id, timestamp=state.seen_at)
    for message in messages:
        if (message.robot_id, message.seq) not in seen:
            _apply_one(message, jobs, logs)
    return registered


def apply_alert_changes(session: Session, changes: Iterable[AlertChange]
                        ) -> list[tuple[Alert, str]]:
    """Write the rule engine's changes; return (alert, event) for those that changed a row.

    Must run after apply_records in the same transaction (alerts refer to robots).  A
    change another ingest instance made first comes back "unchanged" and is left out, so
    each change is announced once however many instances saw it.
    """
    store = AlertStore(session)
    applied = []
    for change in changes:
        try:
            alert, event = store.apply(change)
        except InvalidRecord:
            # Kept, it would fail every later batch too and stall the whole ingest.
            logger.exception("alert change dropped: %s", change)
            continue
        if event != "unchanged":
            applied.append((alert, event))
    return applied


def _apply_one(message: Message, jobs: JobRepository, logs: LogRepository) -> None:
    details = {"seq": message.seq, "topic": message.topic} if message.seq is not None else None
    if message.job is not None:
        jobs.apply(message.robot_id, message.job, message.time)
    if message.log is not None:
        log = message.log
        merged = {**(log.details or {}), **(details or {})}
        if log.source:
            merged["source"] = log.source
        logs.add(log.level, log.category, log.message, robot_id=message.robot_id,
                 details=merged or None, timestamp=message.time)
    if message.command_response is not None:
        response = message.command_response
        logs.add("INFO" if response.success else "WARNING", "command",
                 f"command {response.command_id} "
                 f"{'succeeded' if response.success else 'failed'}: {response.message}",
                 robot_id=message.robot_id,
                 details={"command_id": response.command_id, "emergency": response.emergency},
                 timestamp=message.time)
