#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine (run as root, or with sudo available):
# Debian packages, node modules (librdkafka built from source when no prebuilt binary can be
# fetched), and Kafka's jars from Maven Central. A second run downloads and rebuilds nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."

say() { printf '[install] %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
[ -x /usr/sbin/clickhouse-server ] || missing+=(clickhouse-server)
command -v clickhouse-client >/dev/null || missing+=(clickhouse-client)
[ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v mosquitto_pub >/dev/null || missing+=(mosquitto-clients)
# ZooKeeper of the replicated ClickHouse (stack --clickhouse-replicas 2, test/integration/clickhouse-replicated.test.ts).
[ -f /usr/share/java/zookeeper.jar ] || missing+=(zookeeper)
# Headless browser of the status-page test (test/integration/status-page.test.ts).
command -v chromium >/dev/null || missing+=(chromium)
for pkg in libssl-dev libsasl2-dev zlib1g-dev libzstd-dev liblz4-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

java_major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
if [ "${java_major:-0}" -lt 17 ]; then
  echo "[install] Kafka 4 needs Java 17 or newer; found ${java_major:-none}. Install openjdk-17-jre-headless." >&2
  exit 1
fi

# Node modules. The Kafka client tries to download a prebuilt librdkafka binding first; where that is
# impossible, CKJS_LINKING=dynamic builds it against Debian's libraries (about 70 s, once).
stamp=node_modules/.install-stamp
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ ! -f node_modules/@confluentinc/kafka-javascript/build/Release/confluent-kafka-javascript.node ]; then
  say "installing node modules"
  # npm install (not npm ci): chdb lists optional binaries for other platforms that this registry
  # does not serve, which npm ci reports as a lock mismatch; npm install follows the lock and skips them.
  CKJS_LINKING=dynamic npm install --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi
# The aggregator's batch consume (decision 0022): npm install applies it; node_modules installed
# before it existed get it here. Nothing to do when the binding has it.
CKJS_LINKING=dynamic node --import tsx deploy/native/patch-kafka-binding.ts

# A device client nobody here wrote, for the direct-mode interop test
# (test/integration/edge-mqtt-direct.test.ts): paho-mqtt from PyPI, pinned.
paho_version=2.2.0
if ! python3 -c "import paho.mqtt, sys; sys.exit(paho.mqtt.__version__ != '${paho_version}')" 2>/dev/null; then
  command -v python3 >/dev/null || { echo "[install] python3 is needed for the paho-mqtt interop test; install python3 and python3-pip" >&2; exit 1; }
  say "installing paho-mqtt ${paho_version} (Python) for the MQTT interop test"
  python3 -m pip install --quiet --user "paho-mqtt==${paho_version}" 2>/dev/null || python3 -m pip install --quiet --break-system-packages "paho-mqtt==${paho_version}"
fi

# Kafka's jars, cached per version for every clone on this machine.
kafka_version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' deploy/kafka/pom.xml)
libs="${XDG_CACHE_HOME:-$HOME/.cache}/telemetry-pipeline/kafka-${kafka_version}/libs"
if [ ! -f "$libs/.complete" ]; then
  say "fetching Apache Kafka ${kafka_version} jars with Maven into $libs"
  rm -rf "$libs"
  mvn -q -B -f deploy/kafka/pom.xml dependency:copy-dependencies -DoutputDirectory="$libs"
  touch "$libs/.complete"
fi
say "ready"
