"""`tonypi-agent`: run the robot agent until SIGINT/SIGTERM or a shutdown command."""

from __future__ import annotations

import argparse
import logging
import signal
import sqlite3
import sys
from pathlib import Path

from robot_agent.agent import build_agent
from robot_agent.config import SCENARIOS, ConfigError, load_config, parse_broker

logger = logging.getLogger(__name__)

EXIT_CONFIG_ERROR = 2
EXIT_OUTBOX_ERROR = 3
STATS_LOG_INTERVAL_S = 60.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tonypi-agent",
        description="Publish a TonyPi robot's telemetry over MQTT and obey console commands. "
                    "The broker password comes from TONYPI_MQTT_PASSWORD or the OS keyring "
                    "(service 'tonypi', user 'mqtt:<username>'), never from the command line.")
    parser.add_argument("--config", type=Path, help="TOML configuration file")
    parser.add_argument("--simulate", action="store_true", default=None,
                        help="use the simulation even if the HiWonder SDK is available")
    parser.add_argument("--scenario", choices=SCENARIOS, help="simulation scenario")
    parser.add_argument("--robot-id", help="robot id (default: tonypi_<hostname>)")
    parser.add_argument("--broker", metavar="HOST[:PORT]", help="MQTT broker")
    parser.add_argument("--outbox", type=Path, help="outbox database file")
    parser.add_argument("--log-level", default="INFO",
                        choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        host, port = parse_broker(args.broker) if args.broker else (None, None)
        config = load_config(args.config, overrides={
            "robot_id": args.robot_id, "scenario": args.scenario, "simulate": args.simulate,
            "mqtt_host": host, "mqtt_port": port, "outbox_path": args.outbox,
        })
    except ConfigError as exc:
        logger.error("configuration error: %s", exc)
        return EXIT_CONFIG_ERROR

    try:
        agent = build_agent(config)
    except (OSError, sqlite3.Error) as exc:
        logger.error("cannot open the outbox %s: %s", config.outbox.path, exc)
        return EXIT_OUTBOX_ERROR

    def on_signal(signum: int, _frame: object) -> None:
        agent.request_shutdown(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        agent.start()
        while not agent.wait_for_shutdown(STATS_LOG_INTERVAL_S):
            logger.info("stats: %s", agent.stats())
    finally:
        agent.stop()
        agent.outbox.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
