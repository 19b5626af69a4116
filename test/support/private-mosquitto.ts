import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrokerPersistence } from '../../src/core/failure-analysis.ts';
import type { StackConfig } from '../../src/stack/config-schema.ts';
import { mosquittoProcess, mosquittoUrl, startMosquitto, stopMosquitto } from '../../src/stack/mosquitto.ts';
import { portAnswers, runningPid } from '../../src/stack/processes.ts';
import { eventually } from '../../src/stack/services.ts';
import { freePort, testConfig } from './stack.ts';

/**
 * A Mosquitto of one test's own, for the tests that restart, kill or reconfigure the broker: the
 * local stack's exact configuration (src/stack/mosquitto.ts) on a free port with a temporary data
 * directory, stopped by its pid, so that the shared broker of the other tests is never touched.
 */
export interface PrivateMosquitto {
  readonly stack: StackConfig;
  readonly url: string;
  start(persistence?: BrokerPersistence): Promise<void>;
  /** SIGTERM (a full save) and wait for the exit. */
  stop(): Promise<void>;
  /** SIGKILL (nothing saved) and wait until the port no longer answers. */
  kill(): Promise<void>;
  /** Stops it if it runs and removes its data directory. */
  remove(): Promise<void>;
}

export async function privateMosquitto(prefix: string, persistence?: BrokerPersistence): Promise<PrivateMosquitto> {
  const dataDir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  const stack: StackConfig = { ...testConfig().stack, dataDir, mosquittoPort: await freePort(), mosquittoTlsPort: await freePort(), useExistingMqtt: false };
  const broker: PrivateMosquitto = {
    stack,
    url: mosquittoUrl(stack),
    async start(withPersistence = persistence) {
      await startMosquitto(stack, withPersistence);
    },
    async stop() {
      await stopMosquitto(stack);
    },
    async kill() {
      const pid = runningPid(mosquittoProcess(stack));
      if (pid === null) throw new Error(`the private Mosquitto on port ${stack.mosquittoPort} is not running`);
      process.kill(pid, 'SIGKILL');
      await eventually(`Mosquitto on port ${stack.mosquittoPort} gone`, async () => ((await portAnswers('127.0.0.1', stack.mosquittoPort)) ? undefined : true), 10_000, 50);
    },
    async remove() {
      await stopMosquitto(stack);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  await broker.start();
  return broker;
}
