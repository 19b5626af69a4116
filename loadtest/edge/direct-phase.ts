import { withCpu, type CpuWatch } from './cpu.ts';
import type { Messages, Phase, Publisher } from './publish.ts';

/**
 * Direct mode: the publisher connects to the bridge itself, which sends each PUBACK only after
 * Kafka acknowledged the message's readings. So the phase ends when the last PUBACK arrives: every
 * reading is in Kafka by then. Its CPU is the bridge's (there is no broker): `watch.path` is the bridge.
 */
export async function directPhase(publisher: Publisher, watch: CpuWatch, messages: Messages, perMessage: number, window: number): Promise<Phase> {
  const readings = messages.length * perMessage;
  const send = publisher.prepare(messages, window);
  const started = performance.now();
  const { result: _, ...cpu } = await withCpu(watch, readings, send);
  const seconds = (performance.now() - started) / 1000;
  return { readings, seconds, perSecond: readings / seconds, ...cpu };
}
