#!/bin/sh
# Development certificates for the Compose and Kubernetes deployments, made with the openssl CLI:
# a CA and one server certificate (P-256) per NAME, each for the DNS names and IP addresses listed
# (the first is also its subject's CN).
#
#   sh deploy/tls/dev-certs.sh DIR NAME[+client]=HOST[,HOST...] [NAME[+client]=HOST[,HOST...]]...
#
# writes DIR/ca.pem, DIR/ca.key and DIR/NAME.pem, DIR/NAME.key; what exists is kept (the CA once
# made signs every later certificate). NAME+client makes a certificate that also serves as a TLS
# client's (extendedKeyUsage serverAuth,clientAuth): for servers that log in to each other with
# it, as Kafka's brokers do on their controller listener (mutual TLS). Compose
# (deploy/compose/secrets.sh runs this):
#
#   sh deploy/tls/dev-certs.sh deploy/compose/tls bridge=bridge-1,bridge-2,localhost,127.0.0.1 mosquitto=mosquitto,localhost,127.0.0.1 kafka+client=kafka-broker,kafka-1,kafka-2,kafka-3,localhost,127.0.0.1
#
# DIR must be git-ignored (deploy/compose/tls/ and deploy/k8s/overlays/dev/tls/ are): these are
# private keys. Development only; a deployment reachable from outside brings its own CA.
set -eu
[ "$#" -ge 2 ] || { sed -n '2,17p' "$0" >&2; exit 2; }
dir=$1
shift
mkdir -p "$dir"
# The containers read the keys as other users than yours (the bridge as uid 10001, Mosquitto before
# it drops to its own user), through bind mounts that keep your file modes: the server keys must be
# readable by others. That is acceptable for development keys in a git-ignored directory only; the
# CA's key, which no container reads, stays 0600.

if [ ! -f "$dir/ca.pem" ] || [ ! -f "$dir/ca.key" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=telemetry-pipeline development CA" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
  echo "made $dir/ca.pem"
fi

for spec in "$@"; do
  name=${spec%%=*}
  hosts=${spec#*=}
  usage=serverAuth
  case "$name" in
    *+client) name=${name%+client}; usage=serverAuth,clientAuth ;;
  esac
  case "$name" in
    '' | *[!A-Za-z0-9._-]*) echo "dev-certs: '$spec' is not NAME=HOST[,HOST...]" >&2; exit 2 ;;
  esac
  [ "$hosts" != "$spec" ] && [ -n "$hosts" ] || { echo "dev-certs: '$spec' names no host" >&2; exit 2; }
  [ -f "$dir/$name.pem" ] && [ -f "$dir/$name.key" ] && continue
  san=
  first=
  for host in $(echo "$hosts" | tr ',' ' '); do
    case "$host" in
      *[!0-9.]*) entry="DNS:$host" ;;
      *) entry="IP:$host" ;;
    esac
    san="${san:+$san,}$entry"
    first=${first:-$host}
  done
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$first" \
    -keyout "$dir/$name.key" -out "$dir/$name.csr" 2>/dev/null
  # 825 days: the longest server certificate some clients (Apple's) accept.
  printf 'subjectAltName=%s\nextendedKeyUsage=%s\nbasicConstraints=CA:FALSE\n' "$san" "$usage" > "$dir/$name.ext"
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 825 -extfile "$dir/$name.ext" -out "$dir/$name.pem" 2>/dev/null
  rm -f "$dir/$name.csr" "$dir/$name.ext"
  chmod 0644 "$dir/$name.key"
  echo "made $dir/$name.pem ($san; $usage)"
done
