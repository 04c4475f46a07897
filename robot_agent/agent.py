"""The agent: samples every kind at its rate, writes each message to the outbox first,
and lets the publisher drain it; answers commands; shuts down cleanly."""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from robot_agent import AGENT_VERSION
from robot_agent.collectors import HardwareSource, Reading, choose_hardware
from robot_agent.collectors.simulation import SimulatedRobot
from robot_agent.collectors.system import SystemCollector
from robot_agent.commands import CommandHandler
from robot_agent.config import AgentConfig
from robot_agent.outbox import Outbox
from robot_agent.publisher import Publisher
from services.wire.encode import encode

logger = logging.getLogger(__name__)

EVENT_POLL_S = 0.25  # job and log events from the hardware are picked up this often
DRAIN_ON_STOP_S = 5.0  # how long a graceful stop waits for the rest to be confirmed
SAMPLER_JOIN_S = 5.0
RETAINED_KINDS = frozenset({"status"})  # a new subscriber sees the latest status at once


@dataclass(frozen=True, slots=True)
class Collectors:
    system: SystemCollector
    hardware: HardwareSource


class Agent:
    def __init__(self, config: AgentConfig, collectors: Collectors, outbox: Outbox,
                 publisher: Publisher | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.robot_id = config.robot_id
        self.system = collectors.system
        self.hardware = collectors.hardware
        self.outbox = outbox
        self._clock = clock
        self._hw_lock = threading.RLock()  # sampler thread and command thread share it
        self._emergency_reason: str | None = None
        self._stop = threading.Event()
        self._shutdown_requested = threading.Event()
        self._sampler: threading.Thread | None = None
        self._ip_address = SystemCollector.ip_address()
        self._platform = SystemCollector.platform()
        self.samples = dict.fromkeys(config.rates_s, 0)
        self.unavailable = dict.fromkeys(config.rates_s, 0)
        self.sample_errors = 0
        self.outbox_errors = 0
        self.publisher = publisher or Publisher(
            config.mqtt, self.robot_id, outbox,
            await_receipts=config.outbox.await_receipts,
            receipt_timeout_s=config.outbox.receipt_timeout_s)
        self.publisher.set_presence(self._status_payload("offline"),
                                    lambda: self._status_payload(None))
        self.commands = CommandHandler(self.robot_id, self, self.publisher.publish_now)
        self._unsubscribe: list[Callable[[], None]] = []

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        for topic in self.commands.topics():
            self._unsubscribe.append(self.publisher.subscribe(topic, self.commands.handle))
        self.publisher.start()
        self._sampler = threading.Thread(target=self._run, name="sampler", daemon=True)
        self._sampler.start()
        logger.info("agent %s started (%s, %d message(s) waiting in the outbox)",
                    self.robot_id, self.hardware.hardware_mode, self.outbox.count())

    def stop(self, drain_timeout_s: float = DRAIN_ON_STOP_S) -> None:
        """Stop sampling, send a retained offline status, give the broker (with
        await_receipts: the ingest's receipts) `drain_timeout_s` to confirm what is left
        (the rest waits in the outbox and is sent again at the next start)."""
        self._stop.set()
        if self._sampler is not None:
            self._sampler.join(SAMPLER_JOIN_S)
            self._sampler = None
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        # "clean": this offline is a goodbye, not the last will the broker would send
        # for a lost connection, so the ingest raises no network alert for it.
        self._emit("status", {**self.status_data("offline"), "clean": True})
        drained = self.publisher.drain(drain_timeout_s)
        if not drained:
            logger.warning("stopping with %d message(s) not yet %s; they are kept in the "
                           "outbox for the next start", self.outbox.count(),
                           "confirmed by a receipt" if self.publisher.await_receipts
                           else "delivered")
        self.publisher.stop()
        logger.info("agent %s stopped", self.robot_id)

    def request_shutdown(self, reason: str) -> None:
        logger.warning("shutdown requested: %s", reason)
        self._shutdown_requested.set()

    def wait_for_shutdown(self, timeout_s: float | None = None) -> bool:
        return self._shutdown_requested.wait(timeout_s)

    # -- sampling -----------------------------------------------------------------------

    def _run(self) -> None:
        rates = self.config.rates_s
        now = self._clock()
        next_due = dict.fromkeys(rates, now)
        while not self._stop.is_set():
            now = self._clock()
            with self._hw_lock:
                self.hardware.update(now)
                events = self.hardware.drain_events()
            for kind, due in next_due.items():
                if now >= due:
                    self.sample(kind)
                    following = due + rates[kind]
                    next_due[kind] = following if following > now else now + rates[kind]
            for kind, data in events:
                self._emit(kind, data)
            wait_s = min(min(next_due.values()) - self._clock(), EVENT_POLL_S)
            self._stop.wait(max(0.0, wait_s))

    def read(self, kind: str) -> Reading | None:
        if kind == "status":
            self._ip_address = SystemCollector.ip_address()  # DHCP may have moved us
            return self.status_data()
        if kind == "performance":
            data = self.system.performance()
            simulated_soc = getattr(self.hardware, "soc_temperature", None)
            if data.get("cpu_temperature") is None and simulated_soc is not None:
                with self._hw_lock:
                    data["cpu_temperature"] = simulated_soc(data.get("cpu_percent"))
            return data
        with self._hw_lock:
            return getattr(self.hardware, kind)()

    def sample(self, kind: str) -> Reading | None:
        """Read one kind now and queue it; None when the source has no reading."""
        try:
            data = self.read(kind)
        except Exception:  # one broken sensor must not stop the others
            self.sample_errors += 1
            logger.exception("reading %s failed", kind)
            return None
        if data is None:
            self.unavailable[kind] = self.unavailable.get(kind, 0) + 1
            return None
        self.samples[kind] = self.samples.get(kind, 0) + 1
        self._emit(kind, data)
        return data

    def _emit(self, kind: str, data: Reading) -> None:
        ts = datetime.now(UTC)

        def build(seq: int) -> tuple[str, bytes]:
            return encode(kind, self.robot_id, seq, data, ts=ts)

        try:
            self.outbox.put_with_seq(build, qos=1, retain=kind in RETAINED_KINDS)
        except Exception:  # e.g. disk full: count it, keep sampling, try again next time
            self.outbox_errors += 1
            logger.exception("could not store a %s message in the outbox", kind)
            return
        self.publisher.wake()

    def record_log(self, level: str, message: str) -> None:
        logger.log(logging.getLevelName(level), message)
        self._emit("logs", {"level": level, "message": message, "source": "agent"})

    # -- status and commands ------------------------------------------------------------

    @property
    def emergency_stopped(self) -> bool:
        return self._emergency_reason is not None

    def status_data(self, status: str | None = None) -> Reading:
        reason = self._emergency_reason
        return {
            "status": status or ("emergency_stopped" if reason is not None else "online"),
            "ip_address": self._ip_address,
            "camera_url": self.config.camera_url,
            "emergency_stopped": reason is not None,
            "emergency_reason": reason,
            "hardware_mode": self.hardware.hardware_mode,
            "platform": self._platform,
            "agent_version": AGENT_VERSION,
        }

    def _status_payload(self, status: str | None) -> bytes:
        # Birth and last will are connection events, not samples: they carry no seq.
        return encode("status", self.robot_id, None, self.status_data(status))[1]

    def publish_status_now(self) -> Reading:
        return self.sample("status") or self.status_data()

    def publish_battery_now(self) -> Reading | None:
        return self.sample("battery")

    def set_emergency(self, reason: str) -> None:
        with self._hw_lock:
            self._emergency_reason = reason
            self.hardware.emergency_stop(reason)
        self.record_log("CRITICAL", f"emergency stop: {reason}")
        self.publish_status_now()

    def resume(self) -> bool:
        with self._hw_lock:
            was_stopped = self._emergency_reason is not None
            self._emergency_reason = None
            self.hardware.resume_motion()
        self.record_log("INFO", "emergency stop cleared" if was_stopped else "motion resumed")
        self.publish_status_now()
        return was_stopped

    def stop_motion(self) -> None:
        with self._hw_lock:
            self.hardware.stop_motion()
        self.record_log("INFO", "motion stopped by command")

    def perform(self, action: str, params: dict[str, Any]) -> tuple[bool, str]:
        with self._hw_lock:
            return self.hardware.perform(action, params)

    def stats(self) -> dict[str, Any]:
        publisher = self.publisher.stats()
        return {
            "samples": dict(self.samples), "unavailable": dict(self.unavailable),
            "sample_errors": self.sample_errors, "outbox_errors": self.outbox_errors,
            "outbox_pending": self.outbox.count(), "outbox_dropped": self.outbox.dropped_total,
            "commands_received": self.commands.received,
            "commands_malformed": self.commands.malformed,
            "outbox_unconfirmed": publisher.unconfirmed, "resent": publisher.resent,
            "receipts": publisher.receipts, "bad_receipts": publisher.bad_receipts,
            "publisher": publisher,
        }


def build_agent(config: AgentConfig) -> Agent:
    """Everything wired from a configuration: outbox, collectors, publisher."""
    outbox = Outbox(config.outbox.path, config.outbox.max_messages, config.outbox.max_age_s,
                    seq_key=f"seq:{config.robot_id}")
    seed = config.seed if config.seed is not None else zlib.crc32(config.robot_id.encode())
    hardware = choose_hardware(config.simulate, config.scenario, seed)
    if isinstance(hardware, SimulatedRobot):
        hardware.time_scale = config.sim_speed
    elif config.sim_speed != 1.0:
        logger.warning("sim_speed %.2f ignored: the robot's real hardware runs in real time",
                       config.sim_speed)
    return Agent(config, Collectors(SystemCollector(), hardware), outbox)
