#!/bin/sh
# Rendered by deploy/render.ts from deploy/config/pipeline.example.yaml for target 'compose' —
# deploy/compose/compose.yaml: three KRaft brokers, ClickHouse, Mosquitto on one host. Do not edit: change the example or the target, then re-render.
# Creates the pipeline topics that are missing; existing topics are left as they are.
set -eu
BOOTSTRAP="${BOOTSTRAP:-kafka-1:19092,kafka-2:19092,kafka-3:19092}"
KAFKA_TOPICS="${KAFKA_TOPICS:-/opt/kafka/bin/kafka-topics.sh}"
create() {
  topic=$1
  shift
  "$KAFKA_TOPICS" --bootstrap-server "$BOOTSTRAP" --create --if-not-exists --topic "$topic" "$@"
}
create telemetry.readings --partitions 12 --replication-factor 3 --config min.insync.replicas=2
create telemetry.dead-letter --partitions 3 --replication-factor 3 --config min.insync.replicas=2
create telemetry.late --partitions 12 --replication-factor 3 --config min.insync.replicas=2
