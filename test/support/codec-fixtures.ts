import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { get as sparkplugNamespace } from 'sparkplug-payload';
import type { UPayload } from 'sparkplug-payload/lib/sparkplugbpayload.js';
import { parseConfig } from '../../src/config/load.ts';
import type { PayloadCodec } from '../../src/core/codecs/codec.ts';
import { jsonCodec } from '../../src/core/codecs/json.ts';
import { protobufCodec, type ProtobufFieldMap } from '../../src/core/codecs/protobuf.ts';
import { sparkplugCodec } from '../../src/core/codecs/sparkplug.ts';
import { SparkplugState, type SparkplugObserver } from '../../src/core/codecs/sparkplug-state.ts';

/**
 * Messages as devices send them, for each codec: built with the codec's own library
 * (sparkplug-payload, protobufjs over config/codecs/device.proto), shared by the contract suite,
 * the per-codec tests and the fuzz properties.
 */
export const NOW = 1_764_100_000_000;
export const VALIDATION = parseConfig({}).edge.validation;
export const PROTO_FILE = fileURLToPath(new URL('../../config/codecs/device.proto', import.meta.url));

export const spB = sparkplugNamespace('spBv1.0')!;
export const sparkplugBytes = (payload: UPayload): Uint8Array => spB.encodePayload(payload);

export interface Message {
  readonly topic: string;
  readonly bytes: Uint8Array;
}

export const protoRoot = new protobuf.Root().loadSync(PROTO_FILE, { keepCase: true });
protoRoot.resolveAll();

export function protoBytes(type: string, value: Record<string, unknown>): Uint8Array {
  const messageType = protoRoot.lookupType(type);
  return messageType.encode(messageType.fromObject(value)).finish();
}

export const BATCH_FIELDS: ProtobufFieldMap = { readings: 'readings', device: 'device', id: 'id', time: 'ts', metrics: 'metrics', metricFields: [] };
export const FLAT_FIELDS: ProtobufFieldMap = { readings: '', device: '', id: 'seq', time: 'ts', metrics: '', metricFields: ['temperature', 'humidity', 'door_open'] };
export const PAIRS_FIELDS: ProtobufFieldMap = { readings: '', device: '', id: 'id', time: 'at', metrics: 'samples', metricFields: [] };

export function buildJson(): PayloadCodec {
  return jsonCodec('telemetry');
}

export function buildProtobuf(type = 'acme.telemetry.Batch', fields: ProtobufFieldMap = BATCH_FIELDS): PayloadCodec {
  return protobufCodec('proto', protoRoot.lookupType(type), fields);
}

export function buildSparkplug(observer?: SparkplugObserver): PayloadCodec & { readonly state: SparkplugState } {
  return sparkplugCodec(new SparkplugState(observer));
}

/** The births of edge node `gw1` of group `acme` (bdSeq 0) and of its device `pump`, as a node sends them after connecting. */
export function sparkplugBirths(time = NOW): Message[] {
  return [
    {
      topic: 'spBv1.0/acme/NBIRTH/gw1',
      bytes: sparkplugBytes({
        timestamp: time,
        seq: 0,
        metrics: [
          { name: 'bdSeq', type: 'Int64', value: 0 },
          { name: 'Node Control/Rebirth', type: 'Boolean', value: false },
          { name: 'temperature', alias: 1, type: 'Double', value: 20 },
          { name: 'Properties/Firmware', alias: 2, type: 'String', value: '1.2.3' },
        ],
      }),
    },
    {
      topic: 'spBv1.0/acme/DBIRTH/gw1/pump',
      bytes: sparkplugBytes({
        timestamp: time,
        seq: 1,
        metrics: [
          { name: 'rpm', alias: 10, type: 'Int32', value: 0 },
          { name: 'running', alias: 11, type: 'Boolean', value: false },
          { name: 'pressure/bar', alias: 12, type: 'Float', value: 0 },
        ],
      }),
    },
  ];
}

export function feed(codec: PayloadCodec, messages: readonly Message[], ingestTime = NOW): void {
  for (const message of messages) {
    const route = codec.scope(message.topic);
    if (!route.ok) throw new Error(`fixture topic ${message.topic} refused: ${route.detail}`);
    codec.decode(message.topic, message.bytes, { scope: route.scope, ingestTime, validation: VALIDATION });
  }
}
