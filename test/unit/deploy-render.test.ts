import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config/load.ts';
import { ConfigSchema } from '../../src/config/schema.ts';
import { pipelineTopics } from '../../src/kafka/admin.ts';
import { pipelineGroups, serviceAcls } from '../../src/stack/kafka-access.ts';
import { describeAcl, type AclBinding } from '../../src/kafka/acls.ts';
import { EXAMPLE_CONFIG, REPO_ROOT, TARGETS, configFor, renderAll, withoutSecrets } from '../../deploy/render.ts';

const read = (path: string): string => readFileSync(join(REPO_ROOT, path), 'utf8');

/** KEY=value lines of an env file, comments and blank lines skipped. */
function envFile(path: string): Record<string, string> {
  const entries = read(path)
    .split('\n')
    .filter((line) => line.trim() && !line.startsWith('#'))
    .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)] as const);
  return Object.fromEntries(entries);
}

test('the committed deployment files equal a fresh render of the configuration', () => {
  for (const file of renderAll()) {
    assert.equal(read(file.path), file.text, `${file.path} is stale: run \`node --import tsx deploy/render.ts\``);
  }
});

test('the example configuration parses and names the pipelines the deployments run', () => {
  const config = loadConfig({ file: join(REPO_ROOT, EXAMPLE_CONFIG), env: {} });
  assert.deepEqual(
    config.aggregator.pipelines.map((pipeline) => pipeline.name),
    ['main', 'trend'],
  );
});

for (const [target, path] of [
  [TARGETS.k8sDev, 'deploy/k8s/base/pipeline.yaml'],
  [TARGETS.k8sProd, 'deploy/k8s/overlays/prod/pipeline.yaml'],
] as const) {
  test(`the ConfigMap's ${path} is the ${target.name} configuration, loadable, and carries no secret`, () => {
    const body = read(path)
      .split('\n')
      .filter((line) => !line.startsWith('#'))
      .join('\n');
    const fromConfigMap = loadConfig({ file: join(REPO_ROOT, path), env: {} });
    assert.deepEqual(withoutSecrets(fromConfigMap, ConfigSchema), withoutSecrets(configFor(target), ConfigSchema));
    for (const secret of ['password', 'gatewayKeys', 'bridge-secret', 'demo-gateway-key']) {
      assert.equal(body.includes(secret), false, `${path} holds ${secret}`);
    }
    assert.equal(fromConfigMap.edge.httpHost, '0.0.0.0', 'probes and Services reach the bridge only on all interfaces');
    assert.equal(fromConfigMap.aggregator.metricsHost, '0.0.0.0');
  });
}

test('the Compose environment with its credentials loads into the configuration the containers see', () => {
  const env = { ...envFile('deploy/compose/pipeline.env'), ...envFile('deploy/compose/credentials.env') };
  const tpOnly = Object.fromEntries(Object.entries(env).filter(([name]) => name.startsWith('TP_')));
  const config = loadConfig({ file: join(REPO_ROOT, EXAMPLE_CONFIG), env: tpOnly });
  assert.deepEqual(config.kafka.brokers, ['kafka-1:19092', 'kafka-2:19092', 'kafka-3:19092']);
  assert.equal(config.kafka.replicationFactor, 3);
  assert.equal(config.mqtt.password, env['MQTT_BRIDGE_PASSWORD'], 'the bridge logs in with the password Mosquitto was given');
  assert.equal(config.clickhouse.roles.admin.username, env['CLICKHOUSE_USER'], 'migrations log in as the admin account ClickHouse creates');
  assert.equal(config.clickhouse.roles.admin.password, env['CLICKHOUSE_PASSWORD'], 'with the password ClickHouse was given');
  assert.notEqual(config.clickhouse.username, 'default', 'nobody uses default');
  assert.equal(config.edge.gatewayKeys[0]?.gateway, 'gw-demo');
  assert.equal(config.kafka.security.protocol, 'sasl_ssl', 'Compose reaches its brokers over SASL_SSL');
  assert.equal(config.kafka.security.mechanism, 'SCRAM-SHA-512');
  assert.equal(config.kafka.security.caFile, '/run/secrets/kafka-ca');
  assert.equal(config.kafka.security.password, '', 'no Kafka password in pipeline.env or credentials.env: each service reads its own from a secret file');
});

test('the topic scripts create every topic the pipeline needs, with the replication of their target', () => {
  for (const [target, path] of [
    [TARGETS.compose, 'deploy/compose/topics.sh'],
    [TARGETS.k8sDev, 'deploy/k8s/base/topics.sh'],
    [TARGETS.k8sProd, 'deploy/k8s/overlays/prod/topics.sh'],
  ] as const) {
    const script = read(path);
    for (const spec of pipelineTopics(configFor(target).kafka)) {
      assert.match(
        script,
        new RegExp(`^create ${spec.topic.replace('.', '\\.')} --partitions ${spec.partitions} --replication-factor ${spec.replicationFactor} `, 'm'),
        `${path} lacks ${spec.topic}`,
      );
    }
  }
});

test('every secret key the workloads read is in the development Secret', () => {
  const developmentKeys = Object.keys(envFile('deploy/k8s/overlays/dev/credentials.dev.env'));
  const referenced = new Set<string>();
  for (const file of ['deploy/k8s/base/bridge-deployment.yaml', 'deploy/k8s/base/aggregator-statefulset.yaml']) {
    const text = read(file);
    for (const match of text.matchAll(/secretKeyRef:\s*\n\s*name: telemetry-credentials\s*\n\s*key: ([\w-]+)/g)) referenced.add(match[1]!);
    assert.ok(parseAllDocuments(text).every((document) => document.errors.length === 0), `${file} is not valid YAML`);
  }
  assert.deepEqual([...referenced].sort(), ['clickhouse-admin-password', 'clickhouse-password', 'clickhouse-reader-password', 'gateway-keys', 'kafka-aggregator-password', 'kafka-bridge-password', 'mqtt-password']);
  for (const key of referenced) assert.ok(developmentKeys.includes(key), `credentials.dev.env lacks ${key}`);
});

test('the in-flight alert fires at 80 % of edge.maxInFlightReadings', () => {
  const config = loadConfig({ file: join(REPO_ROOT, EXAMPLE_CONFIG), env: {} });
  const rules = parseYaml(read('deploy/prometheus/rules.yml')) as { groups: { rules: { alert?: string; expr: string }[] }[] };
  const alert = rules.groups.flatMap((group) => group.rules).find((rule) => rule.alert === 'TelemetryBridgeInFlightNearLimit');
  const threshold = Number(/>\s*(\d+)/.exec(alert?.expr ?? '')?.[1]);
  assert.equal(threshold, 0.8 * config.edge.maxInFlightReadings);
});

test('a placement the schema refuses fails the render instead of the container', () => {
  assert.throws(
    () => configFor({ name: 'broken', description: 'test', env: { TP_KAFKA__REPLICATION_FACTOR: '1', TP_KAFKA__MIN_INSYNC_REPLICAS: '2' } }),
    /minInsyncReplicas/,
  );
});

/** The bridge's TLS files that the configuration names (empty settings name none). */
function tlsFiles(target: (typeof TARGETS)[keyof typeof TARGETS]): string[] {
  const tls = configFor(target).edge.tls;
  return [tls.certFile, tls.keyFile, tls.clientCaFile, tls.brokerCaFile].filter((file) => file !== '');
}

test('every target runs the bridge with edge.tls.mode required, a certificate, a key and an mqtts:// broker', () => {
  for (const target of Object.values(TARGETS)) {
    const config = configFor(target);
    assert.equal(config.edge.tls.mode, 'required', `${target.name}: the bridge runs plaintext`);
    assert.notEqual(config.edge.tls.certFile, '', `${target.name}: no certificate`);
    assert.notEqual(config.edge.tls.keyFile, '', `${target.name}: no key file`);
    assert.match(config.mqtt.url, /^mqtts:\/\/[^/]+:8883$/, `${target.name}: the broker is not reached over TLS on 8883`);
    assert.notEqual(config.edge.tls.brokerCaFile, '', `${target.name}: nothing names the CA of the broker's certificate`);
  }
});

interface Volume {
  name: string;
  secret?: { secretName: string; items?: { key: string; path: string }[] };
}
interface Container {
  name: string;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  startupProbe?: { httpGet?: { scheme?: string } };
  livenessProbe?: { httpGet?: { scheme?: string } };
  readinessProbe?: { httpGet?: { scheme?: string } };
}

test('Kubernetes: every TLS file the bridge names is mounted read-only from a Secret key, and its probes and scrapes are HTTPS', () => {
  const deployment = parseYaml(read('deploy/k8s/base/bridge-deployment.yaml')) as { spec: { template: { spec: { containers: Container[]; volumes: Volume[] } } } };
  const pod = deployment.spec.template.spec;
  const bridge = pod.containers.find((container) => container.name === 'bridge')!;
  for (const target of [TARGETS.k8sDev, TARGETS.k8sProd]) {
    for (const file of tlsFiles(target)) {
      const mount = bridge.volumeMounts?.find((candidate) => candidate.mountPath === dirname(file));
      assert.ok(mount, `${target.name}: nothing is mounted at ${dirname(file)} for ${file}`);
      assert.equal(mount.readOnly, true, `${target.name}: ${dirname(file)} is writable`);
      const volume = pod.volumes.find((candidate) => candidate.name === mount.name);
      assert.ok(volume?.secret, `${target.name}: ${file} is not from a Secret (volume ${mount.name})`);
      assert.ok(
        volume.secret.items?.some((item) => item.path === basename(file)),
        `${target.name}: Secret ${volume.secret.secretName} maps no key to ${basename(file)}`,
      );
    }
  }
  const tlsVolume = pod.volumes.find((volume) => volume.secret?.items?.some((item) => item.key === 'tls.key'));
  assert.equal(tlsVolume?.secret?.secretName, 'telemetry-edge-tls', "the certificate and key come from a kubernetes.io/tls Secret's tls.crt and tls.key");
  for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe'] as const) {
    assert.equal(bridge[probe]?.httpGet?.scheme, 'HTTPS', `the bridge's ${probe} speaks plain HTTP to an HTTPS listener`);
  }
  const monitors = parseAllDocuments(read('deploy/k8s/base/servicemonitor.yaml')).map((document) => document.toJS()) as {
    metadata: { name: string };
    spec: { endpoints: { scheme?: string; tlsConfig?: { ca?: { secret?: { name: string } }; insecureSkipVerify?: boolean } }[] };
  }[];
  const endpoint = monitors.find((monitor) => monitor.metadata.name === 'telemetry-bridge')?.spec.endpoints[0];
  assert.equal(endpoint?.scheme, 'https', 'Prometheus scrapes the bridge over plain HTTP');
  assert.equal(endpoint?.tlsConfig?.insecureSkipVerify ?? false, false);
  assert.equal(endpoint?.tlsConfig?.ca?.secret?.name, 'telemetry-edge-ca', "Prometheus verifies the bridge's certificate with the edge CA");
});

interface ComposeService {
  command?: string[];
  environment?: Record<string, string>;
  secrets?: (string | { source: string; target?: string })[];
  healthcheck?: { test: string[] };
  ports?: string[];
}

test('Compose: every TLS file the bridges name is a git-ignored Secret generated on the host, and their healthchecks are HTTPS', () => {
  const compose = parseYaml(read('deploy/compose/compose.yaml'), { merge: true }) as { services: Record<string, ComposeService>; secrets: Record<string, { file: string }> };
  const bridges = Object.entries(compose.services).filter(([, service]) => service.command?.[0] === 'bridge');
  assert.ok(bridges.length >= 2);
  for (const [name, service] of bridges) {
    const mounted = new Map(
      (service.secrets ?? []).map((secret) => (typeof secret === 'string' ? [`/run/secrets/${secret}`, secret] : [secret.target?.startsWith('/') ? secret.target : `/run/secrets/${secret.target ?? secret.source}`, secret.source])),
    );
    for (const file of tlsFiles(TARGETS.compose)) {
      const secret = mounted.get(file);
      assert.ok(secret, `${name}: ${file} is not one of its secrets`);
      const source = compose.secrets[secret]?.file;
      assert.ok(source?.startsWith('./tls/'), `${name}: secret ${secret} is not a generated file under deploy/compose/tls/ (${source})`);
    }
    assert.ok(service.healthcheck?.test.some((part) => part.includes('https://127.0.0.1:8080/readyz')), `${name}: the healthcheck is not HTTPS`);
  }
  assert.match(read('deploy/compose/tls/.gitignore'), /^\*$/m, 'the generated certificates and keys are never committed');
  assert.match(read('deploy/compose/mosquitto/mosquitto.conf'), /^listener 8883$/m, "Mosquitto serves devices and bridges on a TLS listener");
  assert.deepEqual(compose.services['mosquitto']?.ports, ['127.0.0.1:8883:8883'], 'Mosquitto publishes only its TLS listener');
});

test('no private key is in a file under deploy/ that git would commit (development keys are made on the host)', () => {
  const committable = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z', 'deploy'], { cwd: REPO_ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
  assert.ok(committable.includes('deploy/render.ts'), 'git lists the files under deploy/');
  const withKeys = committable.filter((path) => existsSync(join(REPO_ROOT, path)) && /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(read(path)));
  assert.deepEqual(withKeys, []);
  for (const overlay of ['deploy/k8s/base', 'deploy/k8s/overlays/dev', 'deploy/k8s/overlays/prod']) {
    const kustomization = parseYaml(read(`${overlay}/kustomization.yaml`)) as { secretGenerator?: { name: string }[] };
    const generated = (kustomization.secretGenerator ?? []).map((secret) => secret.name);
    assert.ok(!generated.some((name) => name.startsWith('telemetry-edge-')), `${overlay} generates a TLS Secret from committed files`);
  }
});

/** The Compose file with its YAML merge keys applied, as Compose reads it. */
function composeFile(): { services: Record<string, ComposeService>; secrets: Record<string, { file: string }> } {
  return parseYaml(read('deploy/compose/compose.yaml'), { merge: true }) as { services: Record<string, ComposeService>; secrets: Record<string, { file: string }> };
}

test('Compose: the bridges and aggregators log in to Kafka as their own principals, with passwords from git-ignored secret files', () => {
  const compose = composeFile();
  const caFile = configFor(TARGETS.compose).kafka.security.caFile;
  for (const [command, principal] of [['bridge', 'bridge'], ['aggregator', 'aggregator']] as const) {
    const services = Object.entries(compose.services).filter(([, service]) => service.command?.[0] === command);
    assert.ok(services.length >= 2, `no ${command} services`);
    for (const [name, service] of services) {
      const mounted = (service.secrets ?? []).map((secret) => (typeof secret === 'string' ? secret : secret.source));
      assert.equal(service.environment?.['TP_KAFKA__SECURITY__USERNAME'], principal, `${name} logs in as another principal`);
      const passwordFile = service.environment?.['TP_KAFKA__SECURITY__PASSWORD_FILE'];
      assert.equal(passwordFile, `/run/secrets/kafka-${principal}-password`, `${name}: the password does not come from its secret file`);
      assert.ok(mounted.includes(`kafka-${principal}-password`), `${name} does not mount kafka-${principal}-password`);
      assert.ok(mounted.includes(basename(caFile)), `${name} does not mount ${caFile} (kafka.security.caFile)`);
      assert.equal(service.environment?.['TP_KAFKA__SECURITY__PASSWORD'], undefined, `${name} has a Kafka password in compose.yaml`);
    }
    assert.match(compose.secrets[`kafka-${principal}-password`]?.file ?? '', /^\.\/tls\//, `kafka-${principal}-password is not generated under deploy/compose/tls/`);
  }
  assert.doesNotMatch(read('deploy/compose/pipeline.env'), /PASSWORD/, 'pipeline.env names no password');
});

test('Compose: the brokers listen SASL_SSL only, authorise with ACLs, and are checked over SASL_SSL', () => {
  const compose = composeFile();
  for (const name of ['kafka-1', 'kafka-2', 'kafka-3']) {
    const service = compose.services[name]!;
    const env = service.environment ?? {};
    assert.equal(env['KAFKA_LISTENER_SECURITY_PROTOCOL_MAP'], 'INTERNAL:SASL_SSL,EXTERNAL:SASL_SSL,CONTROLLER:SSL', `${name}: a listener is not secured`);
    assert.equal(env['KAFKA_LISTENER_NAME_CONTROLLER_SSL_CLIENT_AUTH'], 'required', `${name}: the controllers do not require client certificates`);
    assert.equal(env['KAFKA_AUTHORIZER_CLASS_NAME'], 'org.apache.kafka.metadata.authorizer.StandardAuthorizer');
    assert.equal(env['KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND'], 'false');
    assert.deepEqual(env['KAFKA_SUPER_USERS']?.split(';').sort(), ['User:CN=kafka-broker', 'User:admin']);
    assert.ok(service.healthcheck?.test.some((part) => part.includes('--command-config /etc/kafka/secrets/admin.properties')), `${name}: the healthcheck does not log in`);
  }
  for (const secret of ['kafka-ca', 'kafka-cert', 'kafka-key', 'kafka-admin-password']) {
    assert.match(compose.secrets[secret]?.file ?? '', /^\.\/tls\//, `${secret} is not generated under deploy/compose/tls/`);
  }
});

/** The bindings of kafka/acls.sh's `grant PRINCIPAL --operation OP... --RESOURCE NAME... [--resource-pattern-type prefixed]` lines. */
function grantedAcls(script: string): AclBinding[] {
  const operations: Record<string, AclBinding['operation']> = { Read: 'read', Write: 'write', Describe: 'describe', DescribeConfigs: 'describe-configs', IdempotentWrite: 'idempotent-write' };
  return script
    .split('\n')
    .filter((line) => line.startsWith('grant '))
    .flatMap((line) => {
      const words = line.split(' ');
      const pattern = line.endsWith('--resource-pattern-type prefixed') ? 'prefixed' : 'literal';
      const ops: AclBinding['operation'][] = [];
      const resources: { resource: AclBinding['resource']; name: string }[] = [];
      for (let i = 2; i < words.length; i++) {
        const flag = words[i]!;
        if (flag === '--operation') ops.push(operations[words[++i]!]!);
        else if (flag === '--cluster') resources.push({ resource: 'cluster', name: 'kafka-cluster' });
        else if (flag === '--topic' || flag === '--group' || flag === '--transactional-id') resources.push({ resource: flag.slice(2) as AclBinding['resource'], name: words[++i]! });
        else if (flag === '--resource-pattern-type') i++;
        else assert.fail(`unexpected word ${flag} in: ${line}`);
      }
      return resources.flatMap((resource) => ops.map((operation) => ({ principal: words[1]!, ...resource, pattern, operation }) as AclBinding));
    });
}

test("Compose: kafka/acls.sh grants the service principals exactly the local stack's ACLs for the configured topics and groups", () => {
  const config = configFor(TARGETS.compose);
  const expected = serviceAcls(config.kafka, pipelineGroups(config)).map(describeAcl).sort();
  assert.deepEqual(grantedAcls(read('deploy/compose/kafka/acls.sh')).map(describeAcl).sort(), expected);
  assert.ok(expected.some((acl) => acl.startsWith('User:aggregator READ on group')), 'the expected set names the pipelines\' groups');
});
