"""Commands from the console: `tonypi/commands/<id>|broadcast` and the emergency-stop topics.

Answers use the legacy response shape (so existing consoles understand this agent) on
the response topic of the family the command came in on.  While emergency-stopped only
commands that cannot move the robot are accepted; a second emergency stop is always
accepted, since it can only make things safer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, Protocol

from robot_agent.collectors import Reading
from services.wire.encode import encode_command_response
from services.wire.topics import (
    COMMAND_RESPONSE_TOPIC,
    EMERGENCY_RESPONSE_TOPIC,
    PREFIX,
    robot_command_subscriptions,
)

logger = logging.getLogger(__name__)

ALLOWED_WHILE_STOPPED = frozenset({"resume", "status_request", "battery_request",
                                   "emergency_stop"})
MOTION_COMMANDS = frozenset({"move", "head_nod", "head_shake"})
EMERGENCY_FAMILY = f"{PREFIX}/emergency_stop/"


class AgentControl(Protocol):
    """What the command handler may do to the agent."""

    @property
    def emergency_stopped(self) -> bool: ...

    def set_emergency(self, reason: str) -> None: ...

    def resume(self) -> bool:
        """Clear an emergency stop and re-enable motion; True if one was cleared."""

    def stop_motion(self) -> None: ...

    def perform(self, action: str, params: dict[str, Any]) -> tuple[bool, str]: ...

    def publish_status_now(self) -> Reading: ...

    def publish_battery_now(self) -> Reading | None: ...

    def request_shutdown(self, reason: str) -> None: ...


class CommandError(ValueError):
    """A command payload that cannot be understood."""


class CommandHandler:
    def __init__(self, robot_id: str, control: AgentControl,
                 respond: Callable[[str, bytes], None]) -> None:
        self.robot_id = robot_id
        self.control = control
        self.respond = respond
        self.received = 0
        self.malformed = 0
        self.rejected = 0

    def topics(self) -> list[str]:
        return robot_command_subscriptions(self.robot_id)

    def handle(self, topic: str, payload: bytes) -> None:
        self.received += 1
        emergency_topic = topic.startswith(EMERGENCY_FAMILY)
        response_topic = EMERGENCY_RESPONSE_TOPIC if emergency_topic else COMMAND_RESPONSE_TOPIC
        try:
            body = json.loads(payload)
        except (UnicodeDecodeError, ValueError):
            self._malformed(topic, "payload is not JSON", None, response_topic)
            return
        if not isinstance(body, dict):
            self._malformed(topic, "payload is not a JSON object", None, response_topic)
            return
        command_id = body.get("id")
        if command_id is not None and not isinstance(command_id, str | int):
            self._malformed(topic, "command id must be a string or a number", None,
                            response_topic)
            return
        command_id = None if command_id is None else str(command_id)
        kind = body.get("type", "emergency_stop" if emergency_topic else None)
        if not isinstance(kind, str) or not kind:
            self._malformed(topic, "missing command type", command_id, response_topic)
            return
        if emergency_topic and kind != "emergency_stop":
            self._malformed(topic, f"only emergency_stop is accepted here, not {kind!r}",
                            command_id, response_topic)
            return
        logger.info("command %s (id %s) on %s", kind, command_id, topic)
        try:
            success, message, extra = self._execute(kind, body)
        except Exception as exc:  # a failing command is answered, never crashes the agent
            logger.exception("command %s failed", kind)
            success, message, extra = False, f"{kind} failed: {exc}", {}
        if not success:
            self.rejected += 1
        self.respond(response_topic, encode_command_response(
            self.robot_id, command_id, success, message, type=kind, **extra))
        if kind == "shutdown" and success:
            self.control.request_shutdown("shutdown command")  # after the answer is queued

    def _malformed(self, topic: str, why: str, command_id: str | None,
                   response_topic: str) -> None:
        self.malformed += 1
        logger.warning("malformed command on %s: %s", topic, why)
        if command_id is not None:
            self.respond(response_topic, encode_command_response(
                self.robot_id, command_id, False, f"malformed command: {why}"))

    def _execute(self, kind: str, body: dict[str, Any]) -> tuple[bool, str, dict[str, Any]]:
        control = self.control
        if control.emergency_stopped and kind not in ALLOWED_WHILE_STOPPED:
            return (False, f"{kind} refused: robot is emergency-stopped; send resume first",
                    {"emergency_stopped": True})
        if kind == "status_request":
            status = control.publish_status_now()
            return True, "status published", {"status": status["status"]}
        if kind == "battery_request":
            battery = control.publish_battery_now()
            if battery is None:
                return False, "battery reading unavailable", {}
            return True, "battery published", {"battery": battery}
        if kind == "emergency_stop":
            reason = str(body.get("reason") or "emergency stop requested")
            control.set_emergency(reason)
            return True, f"emergency stop engaged: {reason}", {"emergency_stopped": True}
        if kind == "resume":
            was_stopped = control.resume()
            return True, ("emergency stop cleared, resumed" if was_stopped else "resumed"), {
                "emergency_stopped": False}
        if kind == "stop":
            control.stop_motion()
            return True, "motion stopped", {}
        if kind in MOTION_COMMANDS:
            params = {k: v for k, v in body.items() if k not in ("type", "id")}
            accepted, message = control.perform(kind, params)
            return accepted, message, {}
        if kind == "shutdown":
            return True, "agent shutting down (the host stays powered)", {}
        return False, f"unknown command type {kind!r}", {}
