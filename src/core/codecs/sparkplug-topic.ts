import { NAME_PATTERN } from '../validation.ts';
import type { RejectionReason } from '../readings.ts';

/**
 * Sparkplug B topics, `spBv1.0/<group>/<type>/<edge node>[/<device>]`, and how their names become
 * the pipeline's: the group is the tenant, the edge node alone is device `<node>`, a device behind
 * it is `<node>.<device>`. A node id may not contain '.', so that the mapping is one to one (a
 * `node.device` name splits at its first '.'); the mapped name must match NAME_PATTERN (64 at most).
 */
export const SPARKPLUG_NAMESPACE = 'spBv1.0';

export const NODE_MESSAGE_TYPES = ['NBIRTH', 'NDATA', 'NDEATH'] as const;
export const DEVICE_MESSAGE_TYPES = ['DBIRTH', 'DDATA', 'DDEATH'] as const;
export type SparkplugMessageType = (typeof NODE_MESSAGE_TYPES)[number] | (typeof DEVICE_MESSAGE_TYPES)[number];

export interface SparkplugTopic {
  readonly group: string;
  readonly type: SparkplugMessageType;
  readonly node: string;
  /** The device behind the node; null for N* messages. */
  readonly device: string | null;
  /** The pipeline's device name: `<node>` or `<node>.<device>`. */
  readonly deviceName: string;
}

export type ParsedTopic = { readonly ok: true; readonly topic: SparkplugTopic } | { readonly ok: false; readonly reason: RejectionReason; readonly detail: string };

const NODE_PATTERN = /^[A-Za-z0-9_-][A-Za-z0-9_-]{0,63}$/;

export function parseSparkplugTopic(topic: string): ParsedTopic {
  const levels = topic.split('/');
  const [namespace, group, type, node, device] = levels;
  const bad = (detail: string): ParsedTopic => ({ ok: false, reason: 'bad-topic', detail });
  if (namespace !== SPARKPLUG_NAMESPACE || group === undefined || type === undefined || node === undefined) {
    return bad(`topic is not ${SPARKPLUG_NAMESPACE}/<group>/<NBIRTH|NDATA|NDEATH|DBIRTH|DDATA|DDEATH>/<edge node>[/<device>]`);
  }
  const isNodeType = (NODE_MESSAGE_TYPES as readonly string[]).includes(type);
  const isDeviceType = (DEVICE_MESSAGE_TYPES as readonly string[]).includes(type);
  if (!isNodeType && !isDeviceType) return bad(`message type ${JSON.stringify(type.slice(0, 16))} is not one an edge node publishes (NBIRTH, NDATA, NDEATH, DBIRTH, DDATA, DDEATH)`);
  if (isNodeType && levels.length !== 4) return bad(`a ${type} topic has 4 levels: ${SPARKPLUG_NAMESPACE}/<group>/${type}/<edge node>`);
  if (isDeviceType && levels.length !== 5) return bad(`a ${type} topic has 5 levels: ${SPARKPLUG_NAMESPACE}/<group>/${type}/<edge node>/<device>`);
  if (!NAME_PATTERN.test(group)) return bad(`group id is not a safe tenant name (${NAME_PATTERN})`);
  if (!NODE_PATTERN.test(node)) return bad(`edge node id must match ${NODE_PATTERN} (no '.': it separates node and device in the device name)`);
  const deviceName = device === undefined ? node : `${node}.${device}`;
  if (device !== undefined && !NAME_PATTERN.test(deviceName)) return bad(`device name '<node>.<device>' must match ${NAME_PATTERN}`);
  return { ok: true, topic: { group, type: type as SparkplugMessageType, node, device: device ?? null, deviceName } };
}

/** The topic a host application sends a node its commands on (the rebirth request). */
export function nodeCommandTopic(group: string, node: string): string {
  return `${SPARKPLUG_NAMESPACE}/${group}/NCMD/${node}`;
}

/** The pipeline's metric name for a Sparkplug metric name: '/' becomes '.', anything else outside the pattern '_'. */
export function metricNameOf(sparkplugName: string): string {
  let name = sparkplugName.replace(/\//g, '.').replace(/[^A-Za-z0-9_.-]/g, '_');
  if (!/^[A-Za-z_]/.test(name)) name = `_${name}`;
  return name.slice(0, 64);
}
