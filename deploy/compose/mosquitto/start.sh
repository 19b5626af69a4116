#!/bin/sh
# Writes the access control of Mosquitto's dynamic-security plugin from the passwords in the
# environment (credentials.env), then runs the broker. Not an acl_file: Mosquitto 2.0's acl_file
# grants every SUBSCRIBE, so a device could join the bridges' $share group and have its share of
# every device's messages dropped (see src/stack/mosquitto.ts, which writes the same rules for
# the local stack). The state file lives on a tmpfs and is rebuilt at every start; the one-time
# admin that writes it is deleted before the broker is reported healthy.
set -eu
state=${DYNSEC_STATE:-/mosquitto/passwd/dynamic-security.json}
conf=${MOSQUITTO_CONF:-/mosquitto/config/mosquitto.conf}
port=${MQTT_PORT:-1883}
admin=setup-admin
admin_password=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
rm -f "$state"
mosquitto_ctrl dynsec init "$state" "$admin" "$admin_password" >/dev/null
chmod 0600 "$state"

/usr/sbin/mosquitto -c "$conf" &
broker=$!
trap 'kill -TERM "$broker" 2>/dev/null' TERM INT

# mosquitto_ctrl warns on every call that the connection is not encrypted (it is on localhost);
# a failure names the command, never its arguments (passwords).
ctl() {
  if ! mosquitto_ctrl -h 127.0.0.1 -p "$port" -u "$admin" -P "$admin_password" dynsec "$@" >/dev/null 2>&1; then
    echo "mosquitto_ctrl dynsec $1 ${2:-} failed" >&2
    return 1
  fi
}
tries=0
until ctl listClients 2>/dev/null; do
  tries=$((tries + 1))
  if [ "$tries" -gt 100 ] || ! kill -0 "$broker" 2>/dev/null; then echo "mosquitto did not start" >&2; exit 1; fi
  sleep 0.2
done

# Everything not granted below is denied; in particular nobody but the bridge subscribes.
ctl setDefaultACLAccess publishClientSend deny
ctl setDefaultACLAccess publishClientReceive deny
ctl setDefaultACLAccess subscribe deny
ctl setDefaultACLAccess unsubscribe allow

ctl createRole bridge
ctl addRoleACL bridge subscribePattern '$share/+/telemetry/#' allow
ctl addRoleACL bridge publishClientReceive 'telemetry/#' allow
ctl createRole fleet
ctl addRoleACL fleet publishClientSend 'telemetry/#' allow
ctl createRole probe
ctl addRoleACL probe publishClientSend 'health/#' allow
ctl addRoleACL probe publishClientReceive 'health/#' allow
ctl addRoleACL probe subscribePattern 'health/#' allow

user() { ctl createClient "$1" -p "$2"; ctl addClientRole "$1" "$3"; }
user bridge "$MQTT_BRIDGE_PASSWORD" bridge
user fleet "$MQTT_FLEET_PASSWORD" fleet
user probe "$MQTT_PROBE_PASSWORD" probe
# A device publishes only under its own name (Mosquitto 2.0.11's plugin does not expand %u).
device() { ctl createRole "device-$1"; ctl addRoleACL "device-$1" publishClientSend "telemetry/+/$1" allow; user "$1" "$2" "device-$1"; }
device sensor-1 "$MQTT_SENSOR_1_PASSWORD"

# Deleting the admin also disconnects the session that asked, so mosquitto_ctrl never hears the
# answer (nor returns): it runs in the background until the plugin has saved the admin's removal.
mosquitto_ctrl -h 127.0.0.1 -p "$port" -u "$admin" -P "$admin_password" dynsec deleteClient "$admin" >/dev/null 2>&1 &
deleter=$!
tries=0
while grep -q "\"$admin\"" "$state"; do
  tries=$((tries + 1))
  if [ "$tries" -gt 100 ]; then echo "could not delete the setup admin" >&2; exit 1; fi
  sleep 0.2
done
kill "$deleter" 2>/dev/null || true
wait "$broker"
