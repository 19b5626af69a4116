import { spawn } from 'node:child_process';
import { REPO_ROOT } from '../../src/stack/paths.ts';
import { withCpu } from './cpu.ts';
import { sleep, type Messages, type Phase, type Publisher } from './publish.ts';

/**
 * The baseline: the bare relay, publisher → Mosquitto → a subscriber that only acknowledges
 * (relay-subscriber.ts, its own process), QoS 1. A phase ends when the subscriber has received every
 * message; its CPU is Mosquitto's and the subscriber's.
 */
export interface RelayTarget {
  readonly url: string;
  /** The bridges' MQTT account, which may subscribe. */
  readonly password: string;
  readonly mosquittoPid: number;
  /** Read only to show that the relay leaves the shared broker idle (others' work on it shows). */
  readonly kafkaPids: readonly number[];
  readonly timeoutMs: number;
}

export async function relayPhase(publisher: Publisher, target: RelayTarget, group: string, filter: string, messages: Messages, perMessage: number, window: number): Promise<Phase> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'loadtest/edge/relay-subscriber.ts', target.url, group, filter], {
    cwd: REPO_ROOT,
    env: { ...process.env, TP_BENCH_PASSWORD: target.password },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let received = 0;
  let ready = false;
  let buffered = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      if (line === 'ready') ready = true;
      else if (line.startsWith('received ')) received = Number(line.slice(9));
    }
  });
  try {
    const readyBy = Date.now() + 20_000;
    while (!ready && Date.now() < readyBy) await sleep(20);
    if (!ready) throw new Error(`the relay subscriber did not subscribe to ${filter} within 20 s`);
    const readings = messages.length * perMessage;
    const send = publisher.prepare(messages, window);
    const started = performance.now();
    const { result: _, ...cpu } = await withCpu({ path: [target.mosquittoPid, child.pid!], kafka: target.kafkaPids }, readings, async () => {
      await send();
      const deadline = Date.now() + target.timeoutMs;
      while (received < messages.length && Date.now() < deadline) await sleep(10);
    });
    const seconds = (performance.now() - started) / 1000;
    if (received < messages.length) throw new Error(`the relay subscriber received ${received} of ${messages.length} messages within ${target.timeoutMs} ms`);
    return { readings, seconds, perSecond: readings / seconds, ...cpu };
  } finally {
    child.kill('SIGKILL');
  }
}
