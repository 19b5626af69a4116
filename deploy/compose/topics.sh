#!/bin/sh
# Rendered by deploy/render.ts from deploy/config/pipeline.example.yaml for target 'compose' —
# deploy/compose/compose.yaml: three KRaft brokers, ClickHouse, Mosquitto on one host. Do not edit: change the example or the target, then re-render.
# Creates the pipeline topics that are missing and sets the declared settings of existing ones.
set -eu
BOOTSTRAP="${BOOTSTRAP:-kafka-1:19092,kafka-2:19092,kafka-3:19092}"
KAFKA_TOPICS="${KAFKA_TOPICS:-/opt/kafka/bin/kafka-topics.sh}"
KAFKA_CONFIGS="${KAFKA_CONFIGS:-/opt/kafka/bin/kafka-configs.sh}"
COMMAND_CONFIG="${COMMAND_CONFIG:-/etc/kafka/secrets/admin.properties}"
create() {
  topic=$1
  shift
  "$KAFKA_TOPICS" --bootstrap-server "$BOOTSTRAP" --command-config "$COMMAND_CONFIG" --create --if-not-exists --topic "$topic" "$@"
}
settle() {
  "$KAFKA_CONFIGS" --bootstrap-server "$BOOTSTRAP" --command-config "$COMMAND_CONFIG" --alter --entity-type topics --entity-name "$1" --add-config "$2"
}
create telemetry.readings --partitions 12 --replication-factor 3 --config min.insync.replicas=2 --config message.timestamp.type=LogAppendTime
create telemetry.dead-letter --partitions 3 --replication-factor 3 --config min.insync.replicas=2
create telemetry.late --partitions 12 --replication-factor 3 --config min.insync.replicas=2
settle telemetry.readings min.insync.replicas=2,message.timestamp.type=LogAppendTime
settle telemetry.dead-letter min.insync.replicas=2
settle telemetry.late min.insync.replicas=2
