#!/bin/sh
# Starts a Compose Kafka node (apache/kafka image). On its first start (an unformatted volume) it
# formats the storage with the SCRAM users of kafka-init's scram-users.args: SASL_SSL is also the
# brokers' inter-broker listener, so admin must exist in the metadata before any broker talks to
# another, and the image's own entrypoint formats without users. Then it runs that entrypoint,
# which writes server.properties from the KAFKA_ variables, finds the storage formatted ("already
# formatted", which it accepts, as on every restart) and starts the node.
#
# The format reads a configuration of its own, from the same KAFKA_ variables: the entrypoint's
# is written only by the entrypoint. Formatting uses the node and quorum settings and the log
# directory; the listener settings are there because the format validates the whole configuration.
set -eu
data=${KAFKA_LOG_DIRS:?KAFKA_LOG_DIRS is not set}
users=/etc/kafka/secrets/scram-users.args
if [ ! -f "$data/meta.properties" ]; then
  [ -s "$users" ] || { echo "start: $users is missing (the kafka-init service writes it)" >&2; exit 1; }
  config=$(mktemp)
  cat > "$config" <<PROPERTIES
process.roles=$KAFKA_PROCESS_ROLES
node.id=$KAFKA_NODE_ID
controller.quorum.voters=$KAFKA_CONTROLLER_QUORUM_VOTERS
controller.listener.names=$KAFKA_CONTROLLER_LISTENER_NAMES
listeners=$KAFKA_LISTENERS
listener.security.protocol.map=$KAFKA_LISTENER_SECURITY_PROTOCOL_MAP
inter.broker.listener.name=$KAFKA_INTER_BROKER_LISTENER_NAME
sasl.enabled.mechanisms=$KAFKA_SASL_ENABLED_MECHANISMS
sasl.mechanism.inter.broker.protocol=$KAFKA_SASL_MECHANISM_INTER_BROKER_PROTOCOL
log.dirs=$data
PROPERTIES
  /opt/kafka/bin/kafka-storage.sh format --cluster-id="$CLUSTER_ID" -c "$config" "@$users"
  rm -f "$config"
fi
exec /etc/kafka/docker/run
