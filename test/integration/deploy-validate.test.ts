import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { REPO_ROOT } from '../../deploy/render.ts';

/**
 * deploy/validate.sh against the committed manifests (all valid), and against manifests broken on
 * purpose (each rejected with the reason): the validator is shown to validate. The first run
 * installs its tools from the package registries (about a minute); later runs take seconds.
 */
const TIMEOUT_MS = 8 * 60_000;

function validate(...args: string[]): { status: number | null; output: string } {
  const result = spawnSync('bash', ['deploy/validate.sh', ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: TIMEOUT_MS });
  return { status: result.status, output: `${result.stdout}\n${result.stderr}` };
}

const scratch = mkdtempSync(join(tmpdir(), 'tp-deploy-'));
const write = (name: string, content: string): string => {
  const path = join(scratch, name);
  writeFileSync(path, content);
  return path;
};

/** The base bridge Deployment with one field changed. */
function bridgeDeployment(change: (deployment: any) => void): string {
  const deployment = parseYaml(readFileSync(join(REPO_ROOT, 'deploy/k8s/base/bridge-deployment.yaml'), 'utf8'));
  change(deployment);
  return stringifyYaml(deployment);
}

test('every committed manifest, rule, dashboard and image file validates', { timeout: TIMEOUT_MS }, () => {
  const { status, output } = validate();
  assert.equal(status, 0, output);
  for (const expected of [
    /ok {4}deploy\/k8s\/overlays\/prod: Deployment\/telemetry-bridge \(Kubernetes [\d.]+ schema, strict\)/,
    /ok {4}deploy\/k8s\/overlays\/dev: StatefulSet\/telemetry-aggregator/,
    /ok {4}deploy\/k8s\/base: ServiceMonitor\/telemetry-bridge \(prometheus-operator CRD schema\)/,
    /ok {4}compose deploy\/compose\/compose\.yaml \(Compose specification schema\)/,
    /ok {4}hadolint deploy\/docker\/Dockerfile/,
    /Unit Testing: {2}deploy\/prometheus\/rules\.test\.yml\s+SUCCESS/,
    /ok {4}deploy\/grafana\/telemetry-pipeline\.json/,
    /all valid/,
  ]) {
    assert.match(output, expected);
  }
});

test('a Deployment with replicas: "two" is rejected by the Kubernetes schema', { timeout: TIMEOUT_MS }, () => {
  const file = write('replicas-two.yaml', bridgeDeployment((deployment) => (deployment.spec.replicas = 'two')));
  const { status, output } = validate('--k8s', file);
  assert.equal(status, 1, output);
  assert.match(output, /FAIL {2}.*Deployment\/telemetry-bridge: spec\.replicas: 'two' is not of type 'integer'/);
  assert.match(output, /INVALID/);
});

test('an unknown field is rejected (strict schema), and a workload without a readiness probe breaks the rules', { timeout: TIMEOUT_MS }, () => {
  const typo = write(
    'typo.yaml',
    bridgeDeployment((deployment) => (deployment.spec.template.spec.containers[0].resoures = deployment.spec.template.spec.containers[0].resources)),
  );
  const unprobed = write('unprobed.yaml', bridgeDeployment((deployment) => delete deployment.spec.template.spec.containers[0].readinessProbe));
  const { status, output } = validate('--k8s', typo, '--k8s', unprobed);
  assert.equal(status, 1, output);
  assert.match(output, /Additional properties are not allowed \('resoures' was unexpected\)/);
  assert.match(output, /readinessProbe must GET \/readyz \(has none\)/);
});

test('a ServiceMonitor whose endpoint port is a number is rejected by the CRD schema', { timeout: TIMEOUT_MS }, () => {
  const monitor = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'ServiceMonitor',
    metadata: { name: 'broken' },
    spec: { selector: { matchLabels: { app: 'x' } }, endpoints: [{ port: 8080 }] },
  };
  const { status, output } = validate('--k8s', write('monitor.yaml', stringifyYaml(monitor)));
  assert.equal(status, 1, output);
  assert.match(output, /FAIL {2}.*ServiceMonitor\/broken: data\/spec\/endpoints\/0\/port must be string/);
});

test('a Compose file with a misspelt key and a dangling depends_on is rejected', { timeout: TIMEOUT_MS }, () => {
  const compose = {
    services: {
      app: { image: 'example', restarts: 'always', depends_on: ['database'] },
    },
  };
  const { status, output } = validate('--compose', write('compose.yaml', stringifyYaml(compose)));
  assert.equal(status, 1, output);
  assert.match(output, /services\.app: 'restarts' does not match any of the regexes/);
  assert.match(output, /depends_on names no service 'database'/);
});
