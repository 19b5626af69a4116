import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { get as sparkplugNamespace } from 'sparkplug-payload';
import type { FleetMessage } from './model.ts';

/**
 * The fleet's payload formats (`--payload json|sparkplug|protobuf`): the model's JSON messages
 * re-encoded as the device would send them in another format, with the reading ids the bridge's
 * codec derives from them (the audit's expected set).
 *
 * - protobuf: `proto/<tenant>/<device>`, an `acme.telemetry.Batch` of config/codecs/device.proto.
 * - sparkplug: every device is an edge node of group `<tenant>`: an NBIRTH (alias 1 =
 *   `temperature`) before its first NDATA, then NDATA by alias, seq 1, 2, … wrapping at 256, one
 *   metric per reading with its own timestamp (nudged by a millisecond where two readings of one
 *   message share one, which would otherwise be one reading).
 */
export type PayloadFormat = 'json' | 'sparkplug' | 'protobuf';

export const PAYLOAD_FORMATS: readonly PayloadFormat[] = ['json', 'sparkplug', 'protobuf'];

export const PROTO_FILE = fileURLToPath(new URL('../../config/codecs/device.proto', import.meta.url));

/** The bridge's mqtt.codecs for a format (JSON needs none: `<topicPrefix>/+/+` is always JSON). */
export function codecRulesFor(format: PayloadFormat): unknown[] {
  if (format === 'sparkplug') return [{ topic: 'spBv1.0/#', codec: 'sparkplug' }];
  if (format === 'protobuf') {
    return [{ topic: 'proto/+/+', codec: 'protobuf', protoFile: PROTO_FILE, messageType: 'acme.telemetry.Batch', readingsField: 'readings', deviceField: 'device', idField: 'id', timeField: 'ts', metricsField: 'metrics' }];
  }
  return [];
}

interface ModelReading {
  readonly seq: number;
  readonly ts: number;
  readonly metrics: { readonly temperature: number };
}

/**
 * Turns the model's messages into the format's. `devicePrefix` renames the devices (a fleet beside
 * another one of the same tenant, e.g. the demo's Sparkplug node beside the JSON fleet, must not
 * share device names with it: the audit keys ids by device).
 */
export function formatter(format: PayloadFormat, tenant: string, devicePrefix = ''): (message: FleetMessage) => FleetMessage[] {
  const encode = encoder(format, tenant);
  if (devicePrefix === '') return encode;
  return (message) => {
    const device = `${devicePrefix}${message.device}`;
    return encode({ ...message, device, topic: `telemetry/${tenant}/${device}` });
  };
}

function encoder(format: PayloadFormat, tenant: string): (message: FleetMessage) => FleetMessage[] {
  if (format === 'json') return (message) => [message];
  if (format === 'protobuf') {
    const batch = new protobuf.Root().loadSync(PROTO_FILE, { keepCase: true }).lookupType('acme.telemetry.Batch');
    return (message) => {
      const readings = readingsOf(message).map((reading) => ({ id: String(reading.seq), ts: reading.ts, metrics: reading.metrics }));
      const payload = batch.encode(batch.fromObject({ readings })).finish();
      return [{ topic: `proto/${tenant}/${message.device}`, payload, device: message.device, ids: message.ids }];
    };
  }
  const spB = sparkplugNamespace('spBv1.0')!;
  const nodeSeq = new Map<string, number>();
  return (message) => {
    const node = message.device;
    const out: FleetMessage[] = [];
    let last = nodeSeq.get(node);
    if (last === undefined) {
      const birth = spB.encodePayload({ timestamp: Date.now(), seq: 0, metrics: [{ name: 'bdSeq', type: 'Int64', value: 0 }, { name: 'temperature', alias: 1, type: 'Double', value: 0 }] });
      out.push({ topic: `spBv1.0/${tenant}/NBIRTH/${node}`, payload: birth, device: node, ids: [] });
      last = 0;
    }
    const seq = (last + 1) % 256;
    nodeSeq.set(node, seq);
    const readings = readingsOf(message);
    const payloadTime = readings[0]!.ts;
    const used = new Set<number>();
    const ids: string[] = [];
    const metrics = readings.map((reading) => {
      let time = reading.ts;
      while (used.has(time)) time++;
      used.add(time);
      ids.push(time === payloadTime ? `${seq}-${payloadTime}` : `${seq}-${payloadTime}-${time}`);
      return { alias: 1, type: 'Double' as const, value: reading.metrics.temperature, timestamp: time };
    });
    out.push({ topic: `spBv1.0/${tenant}/NDATA/${node}`, payload: spB.encodePayload({ timestamp: payloadTime, seq, metrics }), device: node, ids });
    return out;
  };
}

function readingsOf(message: FleetMessage): ModelReading[] {
  const parsed = JSON.parse(typeof message.payload === 'string' ? message.payload : Buffer.from(message.payload).toString('utf8')) as ModelReading | { readings: ModelReading[] };
  return 'readings' in parsed ? parsed.readings : [parsed];
}
