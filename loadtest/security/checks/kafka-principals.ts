import { errorMessage } from '../../../src/core/errors.ts';
import { fetchMetadata } from '../../../src/kafka/admin.ts';
import { kafkaJsClient, type KafkaConnection, type KafkaSecurity } from '../../../src/kafka/connection.ts';
import { setTopicConfig } from '../../../src/kafka/topic-configs.ts';
import { Reader, Writer } from '../../../src/kafka/wire/codec.ts';
import { WireConnection } from '../../../src/kafka/wire/client.ts';
import { localKafkaSecurity } from '../../../src/stack/local-credentials.ts';
import { connectRawProducer } from '../../support/raw-producer.ts';
import type { SecurityCheck, Tally } from '../check.ts';
import type { RunContext } from '../context.ts';

/**
 * Kafka's listener and the services' principals (stack.kafkaProtocol 'sasl_ssl'; decision 0020):
 * SCRAM logins with a wrong password, a plaintext client and a TLS client without a login are
 * refused; the bridge's principal may not read the readings topic, join the aggregators' group,
 * write the late topic or create a topic; the aggregator's may not write the readings topic or
 * change its configuration. Each attempt is refused with the Kafka error the documentation names
 * (58 SASL_AUTHENTICATION_FAILED, 29 TOPIC_AUTHORIZATION_FAILED, 30 GROUP_AUTHORIZATION_FAILED …),
 * or, for a client that cannot even speak the listener's protocol, by no answer at all.
 */
const TIMEOUT_MS = 5000;
const API_FETCH = 1;
const API_JOIN_GROUP = 11;

export const kafkaPrincipals: SecurityCheck = {
  name: 'kafka-principals',
  requires: ['kafka-sasl'],
  phase: 'attack',
  async run(context: RunContext, tally: Tally): Promise<void> {
    const { stack } = context;
    const brokers = stack.kafka.brokers;
    const as = (security: KafkaSecurity): KafkaConnection => ({ brokers, security });
    const bridge = localKafkaSecurity(stack.stack, 'bridge');
    const aggregator = localKafkaSecurity(stack.stack, 'aggregator');
    const { readingsTopic, lateTopic } = stack.kafka;
    const group = stack.aggregator.pipelines[0]?.consumerGroup ?? 'aggregator-default';
    tally.note(`topics ${readingsTopic}, ${lateTopic}; group ${group}`);

    // Logins and the listener's protocol.
    await login(tally, 'admin login with a wrong password', { ...stack.kafka.security, password: context.wrongSecret('wrong Kafka admin password') }, brokers[0]!);
    await login(tally, 'bridge login with a wrong password', { ...bridge, password: context.wrongSecret('wrong Kafka bridge password') }, brokers[0]!);
    await login(tally, 'aggregator login as an unknown user', { ...aggregator, username: `intruder-${context.runId}` }, brokers[0]!);
    await notAnswered(tally, 'plaintext client on the SASL_SSL listener', as({ ...bridge, protocol: 'plaintext' }));
    await notAnswered(tally, 'TLS client without a SASL login', as({ ...bridge, protocol: 'ssl' }));

    // What each principal may not do.
    await kafkaError(tally, 'bridge fetches records of the readings topic', 29, () => fetchFirstPartition(brokers[0]!, bridge, readingsTopic));
    await kafkaError(tally, "bridge joins the aggregators' consumer group", 30, () => joinGroup(brokers[0]!, bridge, group));
    await refusedProduce(tally, 'aggregator writes the readings topic', as(aggregator), readingsTopic);
    await refusedProduce(tally, 'bridge writes the late topic', as(bridge), lateTopic);
    await refusedCall(tally, 'bridge creates a topic', /authoriz/i, async () => {
      const admin = kafkaJsClient(as(bridge), 'nothing').admin();
      await admin.connect();
      try {
        await admin.createTopics({ topics: [{ topic: `security-${context.runId}-created`, numPartitions: 1, replicationFactor: 1 }], timeout: TIMEOUT_MS }).catch((error: unknown) => {
          // The binding gathers the topics' errors under one "Topic creation errors": the first names why.
          const first = (error as { errors?: unknown[] }).errors?.[0];
          throw new Error(`${errorMessage(error)}: ${first === undefined ? '' : errorMessage(first)}`);
        });
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
    });
    // The value the topic has already: were it ever admitted, nothing would change.
    await refusedCall(tally, 'aggregator changes the readings topic configuration', /Kafka error 29/, () =>
      setTopicConfig(as(aggregator), readingsTopic, { 'message.timestamp.type': 'LogAppendTime' }, TIMEOUT_MS),
    );
  },
};

async function login(tally: Tally, what: string, security: KafkaSecurity, broker: string): Promise<void> {
  try {
    const wire = await WireConnection.open(broker, security, TIMEOUT_MS);
    wire.close();
    tally.record('admitted', what, 'logged in');
  } catch (error) {
    const message = errorMessage(error);
    if (/Kafka error 58\b/.test(message)) tally.record('refused', what, 'Kafka error 58 SASL_AUTHENTICATION_FAILED');
    else tally.record('unexpected', what, `failed otherwise: ${message.slice(0, 160)}`);
  }
}

/** A client that does not speak the listener's protocol gets no metadata at all. */
async function notAnswered(tally: Tally, what: string, connection: KafkaConnection): Promise<void> {
  try {
    const metadata = await fetchMetadata(connection, TIMEOUT_MS);
    tally.record('admitted', what, `answered with metadata of ${metadata.brokers.length} broker(s)`);
  } catch {
    tally.record('refused', what, 'no metadata (connection dropped)');
  }
}

async function kafkaError(tally: Tally, what: string, expected: number, send: () => Promise<number>): Promise<void> {
  try {
    const code = await send();
    if (code === expected) tally.record('refused', what, `Kafka error ${code}`);
    else if (code === 0) tally.record('admitted', what, 'answered without an error');
    else tally.record('unexpected', what, `Kafka error ${code} (documented: ${expected})`);
  } catch (error) {
    tally.record('unexpected', what, `the request failed: ${errorMessage(error).slice(0, 160)}`);
  }
}

async function refusedProduce(tally: Tally, what: string, connection: KafkaConnection, topic: string): Promise<void> {
  try {
    const producer = await connectRawProducer(connection, { dr_cb: true, 'message.timeout.ms': TIMEOUT_MS, 'enable.idempotence': true });
    producer.setPollInBackground(true);
    try {
      await new Promise<void>((resolve, reject) => {
        producer.once('delivery-report', (error: unknown) => (error ? reject(error) : resolve()));
        producer.produce(topic, null, Buffer.from('security-check'), 'security-check');
      });
      tally.record('admitted', what, 'the record was delivered');
    } finally {
      await new Promise<void>((resolve) => producer.disconnect(() => resolve()));
    }
  } catch (error) {
    const message = errorMessage(error);
    if (/authorization failed/i.test(message)) tally.record('refused', what, 'Topic authorization failed');
    else tally.record('unexpected', what, `failed otherwise: ${message.slice(0, 160)}`);
  }
}

async function refusedCall(tally: Tally, what: string, documented: RegExp, call: () => Promise<unknown>): Promise<void> {
  try {
    await call();
    tally.record('admitted', what, 'succeeded');
  } catch (error) {
    const message = errorMessage(error);
    if (documented.test(message)) tally.record('refused', what, `refused (${documented.source})`);
    else tally.record('unexpected', what, `failed otherwise: ${message.slice(0, 160)}`);
  }
}

/** Fetch v4 of partition 0 from offset 0: the partition's error code (29 when the principal may not READ). */
async function fetchFirstPartition(broker: string, security: KafkaSecurity, topic: string): Promise<number> {
  const body = new Writer().int32(-1).int32(100).int32(1).int32(1 << 20).int8(0).int32(1).string(topic).int32(1).int32(0).int64(0n).int32(1 << 16).bytes();
  const reader = new Reader(await request(broker, security, API_FETCH, 4, body));
  reader.int32(); // throttle_time_ms
  if (reader.int32() < 1) throw new Error('Fetch answered no topic');
  reader.nullableString();
  if (reader.int32() < 1) throw new Error('Fetch answered no partition');
  reader.int32();
  return reader.int16();
}

/** JoinGroup v1 as a new member: its error code (30 when the principal may not READ the group). */
async function joinGroup(broker: string, security: KafkaSecurity, group: string): Promise<number> {
  const body = new Writer().string(group).int32(10_000).int32(10_000).string('').string('consumer').int32(1).string('range').bytes32(Buffer.alloc(0)).bytes();
  return new Reader(await request(broker, security, API_JOIN_GROUP, 1, body)).int16();
}

async function request(broker: string, security: KafkaSecurity, apiKey: number, version: number, body: Buffer): Promise<Buffer> {
  const wire = await WireConnection.open(broker, security, TIMEOUT_MS);
  try {
    return await wire.request({ apiKey, version, body });
  } finally {
    wire.close();
  }
}
