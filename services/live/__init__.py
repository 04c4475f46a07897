"""Live telemetry for the console: ring buffers, fleet health, the MQTT feed. No Qt."""
