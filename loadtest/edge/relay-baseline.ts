import { spawn } from 'node:child_process';
import type { MqttClient } from 'mqtt';
import { REPO_ROOT } from '../../src/stack/paths.ts';
import { withCpu } from './cpu.ts';
import { publish, sleep, type Messages, type Phase } from './publish.ts';

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
  readonly timeoutMs: number;
}

export async function relayPhase(publisher: readonly MqttClient[], target: RelayTarget, group: string, filter: string, messages: Messages, perMessage: number, window: number): Promise<Phase> {
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
    const started = performance.now();
    const { cpuMicros } = await withCpu([target.mosquittoPid, child.pid!], readings, async () => {
      await publish(publisher, messages, window);
      const deadline = Date.now() + target.timeoutMs;
      while (received < messages.length && Date.now() < deadline) await sleep(10);
    });
    const seconds = (performance.now() - started) / 1000;
    if (received < messages.length) throw new Error(`the relay subscriber received ${received} of ${messages.length} messages within ${target.timeoutMs} ms`);
    return { readings, seconds, perSecond: readings / seconds, cpuMicros };
  } finally {
    child.kill('SIGKILL');
  }
}
