"""The deployment files in packaging/: structure, names, secrets, scripts, units.

No container engine runs here, so docker-compose.yml is checked structurally (with PyYAML
when installed); the image's entry point and health check scripts run for real. The
Mosquitto config and ACL are tested on a real broker in test_packaging_mosquitto.py.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from robot_agent import config as agent_config
from services.secrets import SECRET_ENV
from services.settings import ENV_OVERRIDES, ServerSettings, load_settings

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"
KNOWN_DEFAULT_SECRETS = ("admin123", "my-super-secret", "changeme", "adminpassword")
# `password=` / `token: value` with a literal; `<placeholder>` and `$variable` are fine.
LITERAL_SECRET = re.compile(
    r"(?<!/)(password|passwd|token|secret)\w*\s*[=:]\s*(?![<$/\"']|\s|$)", re.IGNORECASE)


def packaging_files() -> list[Path]:
    """Every shipped file; local secret files (git-ignored) in secrets/ are not shipped."""
    return [p for p in PACKAGING.rglob("*") if p.is_file()
            and (p.parent.name != "secrets" or p.name == ".gitignore")]


def load_compose() -> dict:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load((PACKAGING / "docker-compose.yml").read_text())


# --- docker compose ---------------------------------------------------------------------

def test_compose_services_volumes_healthchecks() -> None:
    compose = load_compose()
    services = compose["services"]
    assert set(services) == {"mosquitto", "influxdb", "postgres", "ingest"}
    assert services["mosquitto"]["image"] == "eclipse-mosquitto:2"
    assert services["influxdb"]["image"] == "influxdb:2.7"
    assert services["postgres"]["image"] == "postgres:15"
    for name, service in services.items():
        assert service["restart"] in ("always", "unless-stopped"), name
        assert service["healthcheck"]["test"], name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (PACKAGING / source).exists() or "/secrets/" in source, volume
            else:
                assert source in compose["volumes"], f"{name}: {source} is not a named volume"
    mounted = {v.split(":")[1] for v in services["mosquitto"]["volumes"]}
    conf = (PACKAGING / "mosquitto" / "mosquitto.conf").read_text()
    for directive in ("password_file", "acl_file", "persistence_location"):
        path = re.search(rf"^{directive}\s+(\S+)", conf, re.M).group(1).rstrip("/")
        assert any(path == m or path.startswith(m + "/") for m in mounted), directive


def test_compose_secrets_come_from_uncommitted_files() -> None:
    compose = load_compose()
    declared = compose["secrets"]
    for name, secret in declared.items():
        assert secret["file"] == f"./secrets/{name}"
    assert (PACKAGING / "secrets" / ".gitignore").read_text().splitlines()[-2:] == [
        "*", "!.gitignore"]
    for name, service in compose["services"].items():
        granted = set(service.get("secrets", []))
        assert granted <= set(declared), name
        for key, value in service.get("environment", {}).items():
            if re.search("PASSWORD|TOKEN", key):
                assert key.endswith("_FILE"), f"{name}: {key} must name a file, not a value"
                assert value.removeprefix("/run/secrets/") in granted, f"{name}: {key}"


def test_compose_ingest_uses_the_real_setting_names() -> None:
    compose = load_compose()
    ingest = compose["services"]["ingest"]
    assert ingest["build"] == {"context": "..", "dockerfile": "packaging/Dockerfile.ingest"}
    assert (PACKAGING / ".." / ingest["build"]["dockerfile"]).is_file()
    assert {dep: c["condition"] for dep, c in ingest["depends_on"].items()} == {
        "mosquitto": "service_healthy", "influxdb": "service_healthy",
        "postgres": "service_healthy"}
    env = ingest["environment"]
    allowed = set(ENV_OVERRIDES) | {f"{name}_FILE" for name in SECRET_ENV.values()}
    assert set(env) <= allowed
    assert {f"{name}_FILE" for name in SECRET_ENV.values()} <= set(env)
    settings = load_settings(PACKAGING / "ingest.example.toml",
                             environ={k: str(v) for k, v in env.items()})
    influx = compose["services"]["influxdb"]["environment"]
    assert (settings.history.org, settings.history.bucket) == (
        influx["DOCKER_INFLUXDB_INIT_ORG"], influx["DOCKER_INFLUXDB_INIT_BUCKET"])
    postgres = compose["services"]["postgres"]["environment"]
    assert settings.records.url == (f"postgresql+psycopg://{postgres['POSTGRES_USER']}@postgres"
                                    f":5432/{postgres['POSTGRES_DB']}")
    assert settings.history.backend == "influx" and settings.mqtt.username == "tonypi-ingest"


def test_no_literal_passwords_or_tokens_anywhere() -> None:
    offenders = []
    for path in packaging_files():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            lowered = line.lower()
            if "password=" in lowered and not re.search(r"password=(<|\$)", lowered):
                offenders.append(f"{path.name}:{number}: {line.strip()}")
            if any(word in lowered for word in KNOWN_DEFAULT_SECRETS):
                offenders.append(f"{path.name}:{number}: {line.strip()}")
            if path.suffix in (".yml", ".toml") and LITERAL_SECRET.search(line.split("#")[0]):
                offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert offenders == []


def test_every_environment_variable_named_in_packaging_exists() -> None:
    known = (set(ENV_OVERRIDES) | set(SECRET_ENV.values())
             | set(agent_config._ENV.values()) | {"TONYPI_MQTT_PASSWORD"})
    known |= {f"{name}_FILE" for name in SECRET_ENV.values()}
    mentioned = set()
    for path in packaging_files():
        mentioned |= {m for m in re.findall(r"TONYPI_[A-Z0-9_<>]*[A-Z0-9>]", path.read_text())
                      if "<" not in m}
    assert mentioned - known == set()
    assert {"TONYPI_DB_PASSWORD", "TONYPI_MQTT_PASSWORD", "TONYPI_INFLUX_TOKEN"} <= mentioned


def test_dockerfile_installs_the_ingest_extra_and_runs_unprivileged() -> None:
    text = (PACKAGING / "Dockerfile.ingest").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", text, re.M)
    assert 'pip install ".[ingest]"' in text
    assert re.search(r"^USER (?!root)\w+", text, re.M)
    assert 'CMD ["tonypi-ingest", "--config", "/etc/tonypi/ingest.toml"]' in text
    # The build context ignores everything its .dockerignore does not name explicitly.
    allowed = (PACKAGING / "Dockerfile.ingest.dockerignore").read_text().splitlines()
    for line in re.findall(r"^COPY (?:--chmod=\S+ )?(.+) \S+$", text, re.M):
        for source in line.split():
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
            assert f"!{source}" in allowed or f"!{source}/**" in allowed, source
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "ingest" in pyproject["project"]["optional-dependencies"]


# --- the image's entry point and health check ------------------------------------------

def run_entrypoint(env: dict[str, str]) -> subprocess.CompletedProcess:
    show = "import os; print(sorted((k, v) for k, v in os.environ.items() if 'TONYPI' in k))"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TONYPI_")}
    return subprocess.run(["sh", str(PACKAGING / "docker-entrypoint.sh"), sys.executable,
                           "-c", show], env={**clean, **env}, capture_output=True, text=True,
                          timeout=10)


def test_entrypoint_turns_secret_files_into_environment(tmp_path) -> None:
    files = {}
    for name in SECRET_ENV.values():
        files[name] = tmp_path / name.lower()
        files[name].write_text(f"value of {name}\n")
    result = run_entrypoint({f"{n}_FILE": str(p) for n, p in files.items()})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(sorted((n, f"value of {n}") for n in files))


def test_entrypoint_refuses_missing_empty_or_doubled_secrets(tmp_path) -> None:
    missing = run_entrypoint({"TONYPI_DB_PASSWORD_FILE": str(tmp_path / "absent")})
    assert missing.returncode == 66 and "not a readable file" in missing.stderr
    (tmp_path / "empty").write_text("")
    empty = run_entrypoint({"TONYPI_MQTT_PASSWORD_FILE": str(tmp_path / "empty")})
    assert empty.returncode == 66 and "is empty" in empty.stderr
    (tmp_path / "token").write_text("t")
    both = run_entrypoint({"TONYPI_INFLUX_TOKEN_FILE": str(tmp_path / "token"),
                           "TONYPI_INFLUX_TOKEN": "t"})
    assert both.returncode == 64


def test_ingest_healthcheck_sees_only_established_broker_connections() -> None:
    spec = importlib.util.spec_from_file_location(
        "ingest_healthcheck", PACKAGING / "ingest_healthcheck.py")
    healthcheck = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(healthcheck)
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        assert healthcheck.main(["healthcheck", str(port)]) == 1  # listening is not enough
        with socket.create_connection(("127.0.0.1", port)):
            assert healthcheck.main(["healthcheck", str(port)]) == 0
    assert healthcheck.established_to_port(port) is False


# --- example settings --------------------------------------------------------------------

def documented_keys(path: Path) -> dict[str, set[str]]:
    """Keys per section, set or shown commented out (`#key = value`)."""
    keys: dict[str, set[str]] = {}
    section = ""
    for line in path.read_text().splitlines():
        if match := re.fullmatch(r"\[(\w+)\]", line.strip()):
            section = match.group(1)
            keys[section] = set()
        elif match := re.match(r"#?(\w+) = ", line):
            keys[section].add(match.group(1))
    return keys


def test_ingest_example_loads_and_shows_every_key() -> None:
    settings = load_settings(PACKAGING / "ingest.example.toml", environ={})
    assert settings.mqtt.client_id == "tonypi-ingest" and settings.history.url
    assert settings.ingest.batch_max < 1000  # below the broker's max_inflight_messages
    expected = {name: set(getattr(ServerSettings(), name).__dataclass_fields__)
                for name in ("mqtt", "records", "history", "ingest")}
    assert documented_keys(PACKAGING / "ingest.example.toml") == expected


def test_agent_example_loads_and_shows_every_key() -> None:
    path = PACKAGING / "agent.example.toml"
    config = agent_config.load_config(path, env={"TONYPI_MQTT_PASSWORD": "from-env"})
    assert config.mqtt.username == config.robot_id
    assert config.outbox.path == Path("/var/lib/tonypi-agent/outbox.db")
    assert dict(config.rates_s) == dict(agent_config.DEFAULT_RATES_S)
    assert config.outbox == agent_config.OutboxConfig(path=config.outbox.path)  # defaults
    assert documented_keys(path) == agent_config._SECTIONS


# --- systemd units and desktop entry -----------------------------------------------------

def read_unit(name: str) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in (PACKAGING / "systemd" / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            values.setdefault(key, []).append(value)
    return values


@pytest.mark.parametrize("program", ["tonypi-agent", "tonypi-ingest"])
def test_systemd_units_are_hardened(program: str, tmp_path) -> None:
    unit = read_unit(f"{program}.service")
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    executable, *args = unit["ExecStart"][0].split()
    assert Path(executable).name in scripts
    assert args == ["--config", f"/etc/tonypi/{program.removeprefix('tonypi-')}.toml"]
    assert unit["EnvironmentFile"] == [f"-/etc/tonypi/{program.removeprefix('tonypi-')}.env"]
    assert unit["StateDirectory"] == [program]
    for key, value in {"Restart": "always", "DynamicUser": "yes", "NoNewPrivileges": "yes",
                       "ProtectSystem": "strict", "ProtectHome": "yes",
                       "PrivateTmp": "yes", "CapabilityBoundingSet": ""}.items():
        assert unit[key] == [value], key
    if not shutil.which("systemd-analyze"):
        return
    # verify insists that ExecStart exists: swap in an executable that does.
    text = (PACKAGING / "systemd" / f"{program}.service").read_text()
    copy = tmp_path / f"{program}.service"
    copy.write_text(text.replace(executable, shutil.which("true")))
    result = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0 and program not in result.stderr, result.stderr


def test_agent_unit_keeps_the_outbox_in_its_state_directory() -> None:
    unit = read_unit("tonypi-agent.service")
    assert "TONYPI_AGENT_OUTBOX_PATH=/var/lib/tonypi-agent/outbox.db" in unit["Environment"]


def test_desktop_entry() -> None:
    path = PACKAGING / "desktop" / "tonypi-console.desktop"
    entry = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    assert entry["Exec"] == "tonypi-console" and entry["Type"] == "Application"
    assert entry["Categories"] == "Utility;Monitor;"
    if shutil.which("desktop-file-validate"):
        result = subprocess.run(["desktop-file-validate", str(path)], capture_output=True,
                                text=True, timeout=30)
        assert result.returncode == 0 and "error" not in result.stdout, result.stdout
