#!/bin/sh
# Hashes the passwords from the environment (credentials.env) into the password file, then runs
# the broker. The file lives on a tmpfs and is rebuilt at every start.
set -eu
file=/mosquitto/passwd/passwd
: > "$file"
add() { mosquitto_passwd -b "$file" "$1" "$2"; }
add bridge "$MQTT_BRIDGE_PASSWORD"
add fleet "$MQTT_FLEET_PASSWORD"
add probe "$MQTT_PROBE_PASSWORD"
add sensor-1 "$MQTT_SENSOR_1_PASSWORD"
chown mosquitto:mosquitto "$file"
chmod 0600 "$file"
exec /usr/sbin/mosquitto -c /mosquitto/config/mosquitto.conf
