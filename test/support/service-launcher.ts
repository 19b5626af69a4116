import { AggregatorScenario } from './aggregator-harness.ts';
import { bridgeProcessEnv } from '../../loadtest/support/edge-harness.ts';
import { freePort } from './stack.ts';
import { startService } from '../../src/stack/services.ts';

/**
 * A process that starts a bridge and an aggregator through startService, prints their pids and the
 * scenario's database as one JSON line, and then waits to be killed: the test of
 * services-follow-their-parent.test.ts SIGKILLs it and watches what its services do.
 */
const scenario = new AggregatorScenario([{ name: 'orphan', guarantee: 'at-least-once', window: { kind: 'tumbling', sizeMs: 5000 } }], { partitions: 1 });
await scenario.setUp();
const aggregator = scenario.startAggregator('orphan');
const bridge = startService('orphan-bridge', 'edge/main.ts', bridgeProcessEnv(process.env, { TP_EDGE__MQTT_ENABLED: 'false' }, await freePort()));
await Promise.all([aggregator.waitForLog(/aggregator started/), bridge.waitForLog(/bridge started/)]);
process.stdout.write(`${JSON.stringify({ bridge: bridge.pid, aggregator: aggregator.pid, database: scenario.database })}\n`);
setInterval(() => undefined, 60_000);
