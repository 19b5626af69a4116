#!/bin/sh
# One-shot, before the brokers (service kafka-init, apache/kafka image, its uid 1000): turns the
# host-made secrets (deploy/compose/secrets.sh) into what Kafka reads, in the kafka-secrets volume
# (/etc/kafka/secrets, mounted read-only everywhere else). Every file is 0600 for the image's user,
# which the brokers, the healthchecks, topics.sh and acls.sh all run as; rewritten at every `up`.
#
#   keystore.pem             the brokers' PKCS#8 key, certificate and CA in one PEM file
#                            (ssl.keystore.type=PEM): Kafka reads no separate key file
#   kafka_server_jaas.conf   the brokers' own SCRAM login as admin (KafkaServer: the inter-broker
#                            listener), named by KAFKA_OPTS -Djava.security.auth.login.config
#   admin.properties         a client's SASL_SSL login as admin: healthchecks, topics.sh, acls.sh
#   scram-users.args         kafka-storage.sh format's --add-scram arguments (read as @file by
#                            start.sh), so that no password is on a command line (`ps` on the host)
set -eu
secrets=/run/secrets
out=${SECRETS_DIR:-/etc/kafka/secrets}
umask 077
for name in kafka-ca kafka-cert kafka-key kafka-admin-password kafka-bridge-password kafka-aggregator-password; do
  [ -r "$secrets/$name" ] || { echo "kafka-init: cannot read $secrets/$name (made on the host by deploy/compose/secrets.sh)" >&2; exit 1; }
done

password() {
  value=$(cat "$secrets/kafka-$1-password")
  # Hex from secrets.sh; anything else could end a JAAS string or an --add-scram list early.
  case "$value" in
    '' | *[!A-Za-z0-9._-]*) echo "kafka-init: $secrets/kafka-$1-password is empty or holds characters other than letters, digits, '.', '_', '-'" >&2; exit 1 ;;
  esac
  printf '%s' "$value"
}
admin=$(password admin)
bridge=$(password bridge)
aggregator=$(password aggregator)

# (The PEM header is matched without its dashes: a test looks for private keys in committed files.)
grep -q '^-*BEGIN PRIVATE KEY-*$' "$secrets/kafka-key" || {
  echo "kafka-init: $secrets/kafka-key is not a PKCS#8 key (BEGIN PRIVATE KEY), the only form Kafka's PEM keystore reads" >&2
  exit 1
}
# Written beside, then renamed: a broker restarting meanwhile never reads half a file.
write() {
  cat > "$out/$1.tmp"
  mv "$out/$1.tmp" "$out/$1"
}
cat "$secrets/kafka-key" "$secrets/kafka-cert" "$secrets/kafka-ca" | write keystore.pem

login="org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"$admin\";"
printf 'KafkaServer {\n  %s\n};\n' "$login" | write kafka_server_jaas.conf
write admin.properties <<PROPERTIES
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=$login
ssl.truststore.type=PEM
ssl.truststore.location=$secrets/kafka-ca
PROPERTIES
# argparse4j's @file: one argument per line.
write scram-users.args <<ARGS
--add-scram
SCRAM-SHA-512=[name=admin,password=$admin]
--add-scram
SCRAM-SHA-512=[name=bridge,password=$bridge]
--add-scram
SCRAM-SHA-512=[name=aggregator,password=$aggregator]
ARGS
echo "kafka-init: keystore, JAAS, admin client properties and SCRAM users written to $out"
