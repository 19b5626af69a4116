"""Offline validation of the deployment manifests (run by deploy/validate.sh inside its venv).

  manifests.py k8s --kubernetes-version 1.31 [--external-secret NAME]... --name LABEL FILE
      Every resource against the Kubernetes API schema of that version (kubernetes-validate,
      strict: unknown fields are errors), then the rules this project holds its workloads to
      (probes, resources, non-root, a PodDisruptionBudget per workload, references that resolve).
      Custom resources (monitoring.coreos.com) are left to custom-resources.ts.
  manifests.py compose --schema compose-spec.json FILE
      Against the Compose specification's JSON schema, then references (depends_on, env_file,
      bind mounts, secrets) that the schema cannot see; secret files must be git-ignored.
  manifests.py dockerfile FILE
      Multi-stage, librdkafka built in, a runtime stage without -dev packages, a non-root user.
  manifests.py xml FILE...
      Well-formed XML (ClickHouse configuration).

Prints one line per checked object ("ok ..." or "FAIL ...") and exits 1 if anything failed.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

import jsonschema
import yaml

CUSTOM_GROUPS = ("monitoring.coreos.com/",)
WORKLOAD_KINDS = ("Deployment", "StatefulSet")


class Report:
    def __init__(self) -> None:
        self.failures = 0

    def ok(self, what: str) -> None:
        print(f"ok    {what}")

    def fail(self, what: str, why: str) -> None:
        self.failures += 1
        print(f"FAIL  {what}: {why}")


def load_documents(path: str) -> list:
    with open(path, encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


def resource_name(doc: dict) -> str:
    return f"{doc.get('kind', '?')}/{(doc.get('metadata') or {}).get('name', '?')}"


# --- Kubernetes -------------------------------------------------------------------------------

def check_k8s(args: argparse.Namespace, report: Report) -> None:
    import kubernetes_validate.utils as kv  # imported here: the compose check does not need it

    try:
        docs = load_documents(args.file)
    except yaml.YAMLError as error:
        report.fail(args.name, f"not valid YAML: {error}")
        return
    if not docs:
        report.fail(args.name, "no resources rendered")
        return
    for doc in docs:
        what = f"{args.name}: {resource_name(doc)}"
        if not isinstance(doc, dict) or "apiVersion" not in doc or "kind" not in doc:
            report.fail(what, "not a Kubernetes resource (apiVersion and kind are required)")
            continue
        if doc["apiVersion"].startswith(CUSTOM_GROUPS):
            continue
        try:
            version = kv.validate(doc, args.kubernetes_version, strict=True)
            report.ok(f"{what} (Kubernetes {version} schema, strict)")
        except kv.ValidationError as error:
            path = ".".join(str(part) for part in error.path) or "<root>"
            report.fail(what, f"{path}: {error.message}")
        except kv.SchemaNotFoundError as error:
            report.fail(what, error.message)
    for failure in workload_policy(docs, set(args.external_secret or [])):
        report.fail(f"{args.name}: {failure[0]}", failure[1])


def pod_spec(doc: dict) -> dict:
    return ((doc.get("spec") or {}).get("template") or {}).get("spec") or {}


def pod_labels(doc: dict) -> dict:
    return (((doc.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}


def selects(selector: dict, labels: dict) -> bool:
    wanted = selector.get("matchLabels", selector) if isinstance(selector, dict) else {}
    return bool(wanted) and all(labels.get(key) == value for key, value in wanted.items())


def workload_policy(docs: list, external_secrets: set) -> list:
    """What a schema cannot say: every workload is probed, bounded, unprivileged and protected."""
    failures = []
    by_kind: dict = {}
    for doc in docs:
        by_kind.setdefault(doc.get("kind"), []).append(doc)
    names = lambda kind: {(d.get("metadata") or {}).get("name") for d in by_kind.get(kind, [])}  # noqa: E731
    config_maps, secrets = names("ConfigMap"), names("Secret") | external_secrets

    for doc in [d for kind in WORKLOAD_KINDS for d in by_kind.get(kind, [])]:
        what = resource_name(doc)
        spec = pod_spec(doc)
        security = spec.get("securityContext") or {}
        if security.get("runAsNonRoot") is not True:
            failures.append((what, "pod securityContext.runAsNonRoot must be true"))
        for container in spec.get("initContainers", []) + spec.get("containers", []):
            where = f"{what} container {container.get('name')}"
            resources = container.get("resources") or {}
            for bound in ("requests", "limits"):
                missing = [r for r in ("cpu", "memory") if r not in (resources.get(bound) or {})]
                if missing:
                    failures.append((where, f"resources.{bound} lacks {', '.join(missing)}"))
        for container in spec.get("containers", []):
            where = f"{what} container {container.get('name')}"
            for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                got = ((container.get(probe) or {}).get("httpGet") or {}).get("path")
                if got != path:
                    failures.append((where, f"{probe} must GET {path} (has {got or 'none'})"))
            for env in container.get("env", []):
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if ref and ref.get("name") not in secrets:
                    failures.append((where, f"env {env.get('name')} refers to Secret {ref.get('name')}, which is neither rendered nor declared external"))
        for volume in spec.get("volumes", []):
            ref = (volume.get("configMap") or {}).get("name")
            if ref and ref not in config_maps:
                failures.append((what, f"volume {volume.get('name')} refers to ConfigMap {ref}, which is not rendered"))
            sources = [volume] + ((volume.get("projected") or {}).get("sources") or [])
            for source in sources:
                secret = source.get("secret") or {}
                ref = secret.get("secretName") or secret.get("name")
                if ref and ref not in secrets and not secret.get("optional"):
                    failures.append((what, f"volume {volume.get('name')} refers to Secret {ref}, which is neither rendered nor declared external"))
        labels = pod_labels(doc)
        if not any(selects((pdb.get("spec") or {}).get("selector") or {}, labels) for pdb in by_kind.get("PodDisruptionBudget", [])):
            failures.append((what, "no PodDisruptionBudget selects its pods"))
        if not any(selects((svc.get("spec") or {}).get("selector") or {}, labels) for svc in by_kind.get("Service", [])):
            failures.append((what, "no Service selects its pods"))

    for hpa in by_kind.get("HorizontalPodAutoscaler", []):
        target = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        if target.get("name") not in names(target.get("kind")):
            failures.append((resource_name(hpa), f"scaleTargetRef {target.get('kind')}/{target.get('name')} is not rendered"))
    for monitor in by_kind.get("ServiceMonitor", []):
        selector = (monitor.get("spec") or {}).get("selector") or {}
        matched = [svc for svc in by_kind.get("Service", []) if selects(selector, (svc.get("metadata") or {}).get("labels") or {})]
        if not matched:
            failures.append((resource_name(monitor), "its selector matches no Service"))
        ports = {p.get("name") for svc in matched for p in (svc.get("spec") or {}).get("ports", [])}
        for endpoint in (monitor.get("spec") or {}).get("endpoints", []):
            if endpoint.get("port") not in ports:
                failures.append((resource_name(monitor), f"endpoint port {endpoint.get('port')} is not a port of the selected Services"))
            tls = endpoint.get("tlsConfig") or {}
            if tls.get("insecureSkipVerify"):
                failures.append((resource_name(monitor), f"endpoint {endpoint.get('port')} skips certificate verification"))
            for field in ("ca", "cert"):
                ref = ((tls.get(field) or {}).get("secret") or {}).get("name")
                if ref and ref not in secrets:
                    failures.append((resource_name(monitor), f"tlsConfig.{field} refers to Secret {ref}, which is neither rendered nor declared external"))
    return failures


# --- Compose ----------------------------------------------------------------------------------

def check_compose(args: argparse.Namespace, report: Report) -> None:
    with open(args.schema, encoding="utf-8") as handle:
        schema = json.load(handle)
    what = f"compose {args.file}"
    try:
        docs = load_documents(args.file)
    except yaml.YAMLError as error:
        report.fail(what, f"not valid YAML: {error}")
        return
    if len(docs) != 1 or not isinstance(docs[0], dict):
        report.fail(what, "must hold exactly one mapping")
        return
    compose = docs[0]
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.path))
    for error in errors:
        path = ".".join(str(part) for part in error.path) or "<root>"
        report.fail(what, f"{path}: {error.message}")
    if not errors:
        report.ok(f"{what} (Compose specification schema)")
    base = os.path.dirname(os.path.abspath(args.file))
    services = compose.get("services") or {}
    for name, service in services.items():
        where = f"{what}: service {name}"
        depends = service.get("depends_on") or []
        for dependency in depends if isinstance(depends, list) else depends.keys():
            if dependency not in services:
                report.fail(where, f"depends_on names no service '{dependency}'")
        env_files = service.get("env_file") or []
        for env_file in [env_files] if isinstance(env_files, str) else env_files:
            path = env_file if isinstance(env_file, str) else env_file.get("path")
            if not os.path.isfile(os.path.join(base, path)):
                report.fail(where, f"env_file {path} does not exist")
        for volume in service.get("volumes") or []:
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source", "")
            if source.startswith((".", "/")) and not os.path.exists(os.path.join(base, source)):
                report.fail(where, f"bind mount source {source} does not exist")
        for secret in service.get("secrets") or []:
            name = secret if isinstance(secret, str) else secret.get("source")
            if name not in (compose.get("secrets") or {}):
                report.fail(where, f"secrets names no top-level secret '{name}'")
        build = service.get("build")
        if isinstance(build, dict):
            dockerfile = os.path.join(base, build.get("context", "."), build.get("dockerfile", "Dockerfile"))
            if not os.path.isfile(dockerfile):
                report.fail(where, f"build.dockerfile {dockerfile} does not exist")
    for name, secret in (compose.get("secrets") or {}).items():
        source = (secret or {}).get("file")
        if source and not git_ignored(os.path.join(base, source)):
            report.fail(f"{what}: secret {name}", f"file {source} is not git-ignored: secret files are made on the host, never committed")
    if not errors:
        report.ok(f"{what}: references of {len(services)} services")


def git_ignored(path: str) -> bool:
    """Whether git ignores path (True outside a work tree: nothing there can be committed)."""
    try:
        result = subprocess.run(["git", "check-ignore", "-q", path], cwd=os.path.dirname(path) if os.path.isdir(os.path.dirname(path)) else ".", check=False)
    except FileNotFoundError:
        return True
    return result.returncode != 1


# --- Dockerfile -------------------------------------------------------------------------------

def check_dockerfile(args: argparse.Namespace, report: Report) -> None:
    with open(args.file, encoding="utf-8") as handle:
        text = re.sub(r"\\\n", " ", handle.read())
    instructions = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    stages: list = []
    for line in instructions:
        keyword = line.split()[0].upper()
        if keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(line)
    what = f"dockerfile {args.file}"
    before = report.failures
    if len(stages) < 2:
        report.fail(what, "must be multi-stage (a build stage and a runtime stage)")
    if not any("CKJS_LINKING=dynamic" in line for line in instructions):
        report.fail(what, "must build the Kafka client with CKJS_LINKING=dynamic")
    runtime = stages[-1] if stages else []
    if any(re.search(r"apt-get install[^&]*\b[\w.+-]+-dev\b", line) for line in runtime):
        report.fail(what, "the runtime stage installs -dev packages")
    users = [line.split()[1] for line in runtime if line.split()[0].upper() == "USER"]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        report.fail(what, "the runtime stage must end on a non-root USER")
    if not any(line.split()[0].upper() == "ENTRYPOINT" for line in runtime):
        report.fail(what, "the runtime stage needs an ENTRYPOINT")
    if report.failures == before:
        report.ok(f"{what} ({len(stages)} stages, runtime user {users[-1]})")


def check_xml(args: argparse.Namespace, report: Report) -> None:
    for path in args.files:
        try:
            ElementTree.parse(path)
            report.ok(f"xml {path}")
        except ElementTree.ParseError as error:
            report.fail(f"xml {path}", str(error))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    k8s = commands.add_parser("k8s")
    k8s.add_argument("--kubernetes-version", required=True)
    k8s.add_argument("--external-secret", action="append")
    k8s.add_argument("--name", required=True)
    k8s.add_argument("file")
    compose = commands.add_parser("compose")
    compose.add_argument("--schema", required=True)
    compose.add_argument("file")
    dockerfile = commands.add_parser("dockerfile")
    dockerfile.add_argument("file")
    xml = commands.add_parser("xml")
    xml.add_argument("files", nargs="+")
    args = parser.parse_args()
    report = Report()
    {"k8s": check_k8s, "compose": check_compose, "dockerfile": check_dockerfile, "xml": check_xml}[args.command](args, report)
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
