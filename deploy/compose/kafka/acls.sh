#!/bin/sh
# Rendered by deploy/render.ts from deploy/config/pipeline.example.yaml for target 'compose' —
# deploy/compose/compose.yaml: three KRaft brokers, ClickHouse, Mosquitto on one host. Do not edit: change the example or the target, then re-render.
# Grants the bridge and aggregator principals their ACLs (src/stack/kafka-access.ts, decision 0020); adding an ACL that exists changes nothing.
set -eu
BOOTSTRAP="${BOOTSTRAP:-kafka-1:19092,kafka-2:19092,kafka-3:19092}"
KAFKA_ACLS="${KAFKA_ACLS:-/opt/kafka/bin/kafka-acls.sh}"
COMMAND_CONFIG="${COMMAND_CONFIG:-/etc/kafka/secrets/admin.properties}"
grant() {
  principal=$1
  shift
  "$KAFKA_ACLS" --bootstrap-server "$BOOTSTRAP" --command-config "$COMMAND_CONFIG" --add --allow-principal "$principal" "$@" > /dev/null
  echo "acls: $principal $*"
}
grant User:bridge --operation Write --operation Describe --topic telemetry.readings --topic telemetry.dead-letter
grant User:bridge --operation IdempotentWrite --cluster
grant User:aggregator --operation Read --operation Describe --operation DescribeConfigs --topic telemetry.readings
grant User:aggregator --operation Write --operation Describe --topic telemetry.late
grant User:aggregator --operation Read --operation Describe --group aggregator-main --group aggregator-trend
grant User:aggregator --operation Write --operation Describe --transactional-id tp-aggregator-main- --transactional-id tp-aggregator-trend- --resource-pattern-type prefixed
grant User:aggregator --operation IdempotentWrite --cluster
