import { withCpu } from './cpu.ts';
import { sleep, type Messages, type Phase, type Publisher } from './publish.ts';

/**
 * Broker mode: the publisher sends to Mosquitto (which acknowledges on arrival), the bridge reads
 * through its shared subscription and writes to Kafka. The phase ends when the bridge's counter of
 * readings Kafka acknowledged has grown by the phase's readings. Its CPU is Mosquitto's and the
 * bridge's.
 */
export interface BrokerBridge {
  readonly pid: number;
  /** The bridge's ops endpoint (GET /metrics). */
  readonly url: string;
  readonly mosquittoPid: number;
  readonly kafkaPids: readonly number[];
  readonly timeoutMs: number;
}

export async function brokerPhase(publisher: Publisher, bridge: BrokerBridge, messages: Messages, perMessage: number, window: number): Promise<Phase> {
  const readings = messages.length * perMessage;
  const before = await publishedBy(bridge.url);
  const send = publisher.prepare(messages, window);
  const started = performance.now();
  let delivered = 0;
  const { result: _, ...cpu } = await withCpu({ path: [bridge.mosquittoPid, bridge.pid], kafka: bridge.kafkaPids }, readings, async () => {
    const publishing = send();
    const deadline = Date.now() + bridge.timeoutMs;
    while (Date.now() < deadline) {
      delivered = (await publishedBy(bridge.url)) - before;
      if (delivered >= readings) break;
      await sleep(POLL_MS);
    }
    await publishing;
  });
  const seconds = (performance.now() - started) / 1000;
  if (delivered < readings) throw new Error(`the broker-mode bridge wrote ${delivered} of ${readings} readings within ${bridge.timeoutMs} ms`);
  return { readings, seconds, perSecond: readings / seconds, ...cpu };
}

/**
 * The bridge's published counter, from its ordinary /metrics (the service has no benchmark-only
 * endpoint): filtered here. A full scrape reads /proc and is charged to the bridge, so it is polled
 * every POLL_MS, not faster: a few scrapes a second cost well under 1 % of its CPU, and the
 * phase's end is known to within POLL_MS.
 */
const POLL_MS = 100;

export async function publishedBy(bridgeUrl: string): Promise<number> {
  const text = await fetch(`${bridgeUrl}/metrics`).then((response) => response.text());
  return Number(/^tp_edge_readings_published_total\{source="mqtt"\} (\S+)$/m.exec(text)?.[1] ?? 0);
}
