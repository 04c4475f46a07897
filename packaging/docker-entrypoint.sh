#!/bin/sh
# Entry point of the ingest image: turns Docker secrets into the environment variables
# services.secrets reads, then runs the command (tonypi-ingest ...) in this process's place.
#
# For each of TONYPI_DB_PASSWORD, TONYPI_MQTT_PASSWORD and TONYPI_INFLUX_TOKEN, a
# variable NAME_FILE naming a readable file (/run/secrets/...) sets NAME to the file's
# contents (trailing newlines dropped). Secrets stay out of the compose file, the image and
# `docker inspect`; they exist only in the ingest process's environment.
set -eu

for name in TONYPI_DB_PASSWORD TONYPI_MQTT_PASSWORD TONYPI_INFLUX_TOKEN; do
    eval "file=\${${name}_FILE:-}"
    [ -n "$file" ] || continue
    eval "direct=\${${name}:-}"
    if [ -n "$direct" ]; then
        echo "entrypoint: both $name and ${name}_FILE are set; use one" >&2
        exit 64
    fi
    if [ ! -r "$file" ]; then
        echo "entrypoint: ${name}_FILE=$file is not a readable file" \
             "(is the secret defined, and readable by uid $(id -u)?)" >&2
        exit 66
    fi
    value=$(cat "$file")
    if [ -z "$value" ]; then
        echo "entrypoint: ${name}_FILE=$file is empty" >&2
        exit 66
    fi
    export "$name=$value"
    unset "${name}_FILE"
done
unset file direct value name

exec "$@"
