"""The TonyPi robot agent: collects telemetry, publishes it through a durable outbox,
obeys commands.  Imports only the standard library, paho-mqtt, psutil and services.wire,
so it installs on a Raspberry Pi without anything else."""

AGENT_VERSION = "0.1.0"
