#!/bin/sh
# Makes, on the host, every file the Compose deployment mounts as a secret, into the git-ignored
# deploy/compose/tls/ (what exists is kept):
#
#   sh deploy/compose/secrets.sh
#
#   ca.pem, ca.key                     the development CA (deploy/tls/dev-certs.sh)
#   bridge.pem, bridge.key             the bridges' HTTPS and MQTT server certificate
#   mosquitto.pem, mosquitto.key       Mosquitto's TLS listener
#   kafka.pem, kafka.key               the Kafka brokers' certificate, CN=kafka-broker (the principal
#                                      of their mutual-TLS controller listener, a super user), for
#                                      server and client use, naming kafka-1..3, localhost, 127.0.0.1
#   kafka-admin.password               the Kafka principals' SCRAM passwords (decision 0020): admin
#   kafka-bridge.password              (the brokers among themselves, topic and ACL set-up, tools),
#   kafka-aggregator.password          bridge and aggregator
#
# The brokers get the SCRAM users when their storage is formatted, on their first start
# (deploy/compose/kafka/start.sh): a password changed later needs new Kafka volumes (`docker
# compose down` and `docker volume rm telemetry-pipeline_kafka-1 …`), or kafka-configs.sh
# --alter --entity-type users as admin. Passwords are hex: they go into JAAS lines and
# kafka-storage.sh's --add-scram unquoted. Like the server keys, the password files must be
# readable by the containers' users (the bridges' uid 10001, the Kafka image's uid 1000), which the
# bind mounts of Compose secrets do not change: development only, in this git-ignored directory.
set -eu
here=$(dirname "$0")
dir="$here/tls"
sh "$here/../tls/dev-certs.sh" "$dir" \
  bridge=bridge-1,bridge-2,localhost,127.0.0.1 \
  mosquitto=mosquitto,localhost,127.0.0.1 \
  kafka+client=kafka-broker,kafka-1,kafka-2,kafka-3,localhost,127.0.0.1
for principal in admin bridge aggregator; do
  file="$dir/kafka-$principal.password"
  [ -s "$file" ] && continue
  (umask 022 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$file")
  echo "made $file"
done
