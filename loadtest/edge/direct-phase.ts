import type { MqttClient } from 'mqtt';
import { withCpu } from './cpu.ts';
import { publish, type Messages, type Phase } from './publish.ts';

/**
 * Direct mode: the publisher connects to the bridge itself, which sends each PUBACK only after
 * Kafka acknowledged the message's readings. So the phase ends when the last PUBACK arrives: every
 * reading is in Kafka by then. Its CPU is the bridge's (there is no broker).
 */
export async function directPhase(devices: readonly MqttClient[], bridgePid: number, messages: Messages, perMessage: number, window: number): Promise<Phase> {
  const readings = messages.length * perMessage;
  const started = performance.now();
  const { cpuMicros } = await withCpu([bridgePid], readings, () => publish(devices, messages, window));
  const seconds = (performance.now() - started) / 1000;
  return { readings, seconds, perSecond: readings / seconds, cpuMicros };
}
