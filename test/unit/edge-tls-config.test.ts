import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { brokerTls, createTlsMetrics, listenerTls } from '../../edge/tls.ts';
import { loadConfig } from '../../src/config/load.ts';
import { redactSecrets, secretPaths } from '../../src/config/secrets.ts';
import { transportText } from '../../src/config/tls-schema.ts';
import { loadStackConfig } from '../../src/stack/config.ts';
import { withLocalTls } from '../../src/stack/tls-config.ts';
import { localTlsFiles } from '../../src/stack/tls.ts';
import { StatusHistory } from '../../src/status/history.ts';
import { parsePrometheusText } from '../../src/status/prom-text.ts';
import { buildStatus } from '../../src/status/view.ts';

/**
 * edge.tls without servers: the settings and their contradictions, the local stack's defaults,
 * the inline key as a secret, and what `guarantees explain` and the status page say about it.
 */
const tlsOf = (tls: Record<string, unknown>) => loadConfig({ env: {}, overrides: { edge: { tls } } }).edge.tls;

test('TLS is required by default: a bridge without a certificate refuses to start, naming the key and the way out', () => {
  assert.equal(tlsOf({}).mode, 'required');
  assert.throws(() => listenerTls(tlsOf({})), /edge\.tls\.certFile.*edge\.tls\.mode 'plaintext'/);
  assert.throws(() => listenerTls(tlsOf({ certFile: '/x.pem' })), /needs a private key: edge\.tls\.keyFile, or the secret edge\.tls\.key/);
  assert.throws(() => listenerTls(tlsOf({ certFile: '/x.pem', keyFile: '/x.key', key: 'PEM' })), /both set/);
  assert.throws(() => listenerTls(tlsOf({ certFile: '/nonexistent/x.pem', keyFile: '/x.key' })), /edge\.tls\.certFile \/nonexistent\/x\.pem cannot be read/);
  assert.equal(listenerTls(tlsOf({ mode: 'plaintext' })), undefined);
});

test('broker mode: a plaintext mqtt.url is refused while TLS is required, allowed when plaintext is said', () => {
  const mqtt = (url: string) => loadConfig({ env: {}, overrides: { mqtt: { url } } }).mqtt;
  assert.throws(() => brokerTls(tlsOf({}), mqtt('mqtt://broker:1883')), /mqtt\.url mqtt:\/\/broker:1883 is plaintext: use mqtts:\/\//);
  assert.deepEqual(brokerTls(tlsOf({}), mqtt('mqtts://broker:8883')), {});
  assert.deepEqual(brokerTls(tlsOf({ mode: 'plaintext' }), mqtt('mqtt://broker:1883')), {});
});

test('the inline private key is a secret: never shown by `config`', () => {
  assert.ok(secretPaths().includes('edge.tls.key'), secretPaths().join(', '));
  const config = loadConfig({ env: { TP_EDGE__TLS__KEY: '-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----' } });
  assert.equal(config.edge.tls.key.startsWith('-----BEGIN'), true);
  assert.doesNotMatch(JSON.stringify(redactSecrets(config)), /BEGIN PRIVATE KEY/);
});

test('the local stack fills in its CA and server certificate, and in broker mode points the bridges at Mosquitto over TLS', () => {
  const direct = withLocalTls(loadStackConfig({ env: {}, overrides: { stack: { dataDir: '/tmp/tp-tls-unit' }, mqtt: { mode: 'direct' } } }));
  const files = localTlsFiles(direct.stack);
  assert.deepEqual([direct.edge.tls.certFile, direct.edge.tls.keyFile, direct.edge.tls.clientCaFile], [files.certFile, files.keyFile, files.caFile]);
  assert.equal(direct.mqtt.url, 'mqtt://127.0.0.1:1883', 'direct mode leaves mqtt.url alone');

  const broker = withLocalTls(loadStackConfig({ env: {}, overrides: { stack: { dataDir: '/tmp/tp-tls-unit', mosquittoTlsPort: 18883 }, mqtt: { mode: 'broker' } } }));
  assert.equal(broker.mqtt.url, 'mqtts://127.0.0.1:18883');
  assert.equal(broker.edge.tls.brokerCaFile, files.caFile);

  const own = withLocalTls(loadStackConfig({ env: {}, overrides: { stack: { dataDir: '/tmp/tp-tls-unit' }, edge: { tls: { certFile: '/etc/own.pem', keyFile: '/etc/own.key' } } } }));
  assert.deepEqual([own.edge.tls.certFile, own.edge.tls.keyFile], ['/etc/own.pem', '/etc/own.key'], "an operator's files are kept");

  const plain = loadStackConfig({ env: {}, overrides: { edge: { tls: { mode: 'plaintext' } }, mqtt: { mode: 'broker' } } });
  assert.deepEqual(withLocalTls(plain), plain);
});

test('`guarantees explain` and the status page say when a bridge runs plaintext', () => {
  assert.match(transportText(tlsOf({ mode: 'plaintext' })), /\*\*plaintext\*\*/);
  assert.match(transportText(tlsOf({ clientCaFile: '/ca.pem' })), /\*\*TLS\*\*.*client certificate/);

  const scrape = (enabled: boolean) => {
    const registry = new Registry();
    createTlsMetrics(registry, enabled);
    return registry.metrics();
  };
  return Promise.all([scrape(true), scrape(false)]).then(([tls, plain]) => {
    const observation = {
      at: 1_764_000_000_000,
      aggregator: [],
      bridges: [
        { url: 'https://a', samples: parsePrometheusText(tls), error: null },
        { url: 'http://b', samples: parsePrometheusText(plain), error: null },
        { url: 'http://old', samples: parsePrometheusText('# TYPE tp_edge_state gauge\ntp_edge_state{state="accepting"} 1\n'), error: null },
      ],
      runners: [],
      groups: [],
      groupsError: null,
    };
    const history = new StatusHistory({ maxPoints: 3, p95WindowMs: 10_000 });
    history.record(observation);
    const status = buildStatus(observation, history, { instance: 'a', slaP95Ms: 10_000, p95WindowMs: 10_000, readingsTopic: 't', partitions: 1, kafkaProtocol: 'sasl_ssl', clientIdPrefix: 'c', pipelines: [] });
    assert.deepEqual(status.topology.bridges.map((bridge) => [bridge.url, bridge.tls]), [['https://a', true], ['http://b', false], ['http://old', null]]);
  });
});
