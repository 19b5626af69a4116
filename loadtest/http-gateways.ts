/**
 * `npm run loadtest:http [-- --duration S --connections C --batch B]`: autocannon against the bridge's
 * HTTP intake, as gateways post batches of readings. Every request carries new reading ids; a 202
 * arrives only after Kafka acknowledged every reading of it. Afterwards the readings Kafka holds are
 * compared with the readings the bridge accepted. Ends with one JSON line:
 *   {"bench":"http","requests_per_s":…,"readings_per_s":…,"latency_p50_ms":…,"latency_p99_ms":…,"non_2xx":…,"lost":…}
 */
import { parseArgs } from 'node:util';
import { cpus } from 'node:os';
import autocannon from 'autocannon';
import { loadStackConfig } from '../src/stack/config.ts';
import { errorMessage } from '../src/core/errors.ts';
import { ensureTopics, pipelineTopics } from '../src/kafka/admin.ts';
import { eventually, startService } from '../src/stack/services.ts';
import { bridgeHttpUrl, fetchText, localClientTls } from '../src/stack/tls-client.ts';
import { configForLocalStack, stackUp } from '../src/stack/stack.ts';
import { localGatewayKey } from '../src/stack/local-credentials.ts';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '20' },
    connections: { type: 'string', default: '20' },
    batch: { type: 'string', default: '100' },
  },
});
const say = (line: string): void => void process.stdout.write(`${line}\n`);
const batch = Number(values.batch);
say(`machine: ${cpus().length} cores, node ${process.version}; ${values.connections} connections, ${batch} readings per request, ${values.duration} s`);

/** The benchmark could not measure: still one JSON line, with the reason, and a non-zero exit. */
const failureLine = (what: string, error: unknown): string => {
  say(`  ! ${what}: ${errorMessage(error)}`);
  return JSON.stringify({ bench: 'http', lost: null, passed: false, reasons: [`${what}: ${errorMessage(error)}`] });
};
const base = loadStackConfig();
await stackUp(base, (line) => say(`  ${line}`)).catch((error: unknown) => {
  say(failureLine('starting the local stack', error));
  process.exit(1);
});
const local = configForLocalStack(base);
const runId = `${Date.now().toString(36)}${process.pid}`;
const topic = `http-${runId}`;
const port = 17080 + (process.pid % 1000);
const gateway = localGatewayKey(local.stack);
// HTTPS with the local CA's certificate unless edge.tls.mode is 'plaintext' (what a gateway sees).
const tls = localClientTls(local);
const bridgeUrl = bridgeHttpUrl(tls, port);
await ensureTopics(local.kafka, pipelineTopics({ ...local.kafka, readingsTopic: topic, deadLetterTopic: `${topic}-dead-letter`, lateTopic: `${topic}-late` })).catch((error: unknown) => {
  say(failureLine('creating the topics', error));
  process.exit(1);
});
const bridge = startService('bridge-http', 'edge/main.ts', {
  TP_KAFKA__READINGS_TOPIC: topic,
  TP_KAFKA__DEAD_LETTER_TOPIC: `${topic}-dead-letter`,
  TP_EDGE__HTTP_PORT: String(port),
  TP_EDGE__MQTT_ENABLED: 'false',
  TP_EDGE__TLS__MODE: local.edge.tls.mode,
  ...(local.edge.tls.mode === 'required' ? { TP_EDGE__TLS__CERT_FILE: local.edge.tls.certFile, TP_EDGE__TLS__KEY_FILE: local.edge.tls.keyFile } : {}),
  // A throughput measurement of one gateway key: the abuse limits would measure themselves.
  TP_EDGE__HTTP_LIMITS__GATEWAY_REQUESTS_PER_SECOND: '0',
  TP_EDGE__HTTP_LIMITS__DEVICE_READINGS_PER_SECOND: '0',
  TP_LOG__LEVEL: 'warn',
});
try {
  await eventually('bridge ready', async () => ((await fetchText(`${bridgeUrl}/readyz`, { ca: tls.ca }).catch(() => null))?.ok ? true : undefined), 60_000);
  let sequence = 0;
  const result = await autocannon({
    url: `${bridgeUrl}/v1/readings`,
    // autocannon connects with rejectUnauthorized false whatever it is given: the CA is passed for completeness.
    ...(tls.ca === undefined ? {} : { tlsOptions: { ca: tls.ca } }),
    connections: Number(values.connections),
    duration: Number(values.duration),
    requests: [
      {
        method: 'POST',
        headers: { authorization: `Bearer ${gateway.key}`, 'content-type': 'application/json' },
        // A new batch per request: fresh ids, so that every accepted reading is a distinct one.
        setupRequest: (request) => {
          const now = Date.now();
          const readings: string[] = [];
          for (let i = 0; i < batch; i++) {
            const id = sequence++;
            readings.push(`{"device":"gw-dev-${id % 1000}","id":"${id}","ts":${now},"metrics":{"temperature":${(id % 400) / 10}}}`);
          }
          return { ...request, body: `[${readings.join(',')}]` };
        },
      },
    ],
  });
  const accepted = result['2xx'] * batch;
  const metrics = (await fetchText(`${bridgeUrl}/metrics`, { ca: tls.ca })).text;
  const published = Number(/^tp_edge_readings_published_total\{source="http"\} (\S+)$/m.exec(metrics)?.[1] ?? 0);
  const lost = Math.max(0, accepted - published);
  say(`requests: ${result.requests.total} (${result['2xx']} answered 202, ${result.non2xx} other), ${Math.round(result.requests.average)} requests/s`);
  say(`readings: ${accepted} accepted (${Math.round(accepted / Number(values.duration))}/s), ${published} acknowledged by Kafka`);
  say(`latency (request → 202, after Kafka's ack): p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, max ${result.latency.max} ms`);
  say(
    JSON.stringify({
      bench: 'http',
      requests_per_s: Math.round(result.requests.average),
      readings_per_s: Math.round(accepted / Number(values.duration)),
      latency_p50_ms: result.latency.p50,
      latency_p99_ms: result.latency.p99,
      non_2xx: result.non2xx,
      lost,
    }),
  );
  process.exitCode = lost === 0 && result.non2xx === 0 ? 0 : 1;
} catch (error) {
  // The bridge did not start, or died before its counters could be read: nothing measured, and says so.
  say(failureLine('measuring the bridge', error));
  process.exitCode = 1;
} finally {
  await bridge.stop(20_000);
}
