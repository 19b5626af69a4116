#!/bin/sh
# Rendered by deploy/render.ts from deploy/config/pipeline.example.yaml for target 'k8s-dev' —
# deploy/k8s/base (used as is by overlays/dev): one-broker development cluster. Do not edit: change the example or the target, then re-render.
# Creates the pipeline topics that are missing and sets the declared settings of existing ones.
set -eu
BOOTSTRAP="${BOOTSTRAP:-telemetry-kafka-bootstrap.kafka.svc:9093}"
KAFKA_TOPICS="${KAFKA_TOPICS:-/opt/kafka/bin/kafka-topics.sh}"
KAFKA_CONFIGS="${KAFKA_CONFIGS:-/opt/kafka/bin/kafka-configs.sh}"
COMMAND_CONFIG="${COMMAND_CONFIG:-/etc/telemetry-kafka/topic-admin/client.properties}"
create() {
  topic=$1
  shift
  "$KAFKA_TOPICS" --bootstrap-server "$BOOTSTRAP" --command-config "$COMMAND_CONFIG" --create --if-not-exists --topic "$topic" "$@"
}
settle() {
  "$KAFKA_CONFIGS" --bootstrap-server "$BOOTSTRAP" --command-config "$COMMAND_CONFIG" --alter --entity-type topics --entity-name "$1" --add-config "$2"
}
create telemetry.readings --partitions 12 --replication-factor 1 --config min.insync.replicas=1 --config message.timestamp.type=LogAppendTime
create telemetry.dead-letter --partitions 3 --replication-factor 1 --config min.insync.replicas=1
create telemetry.late --partitions 12 --replication-factor 1 --config min.insync.replicas=1
settle telemetry.readings min.insync.replicas=1,message.timestamp.type=LogAppendTime
settle telemetry.dead-letter min.insync.replicas=1
settle telemetry.late min.insync.replicas=1
