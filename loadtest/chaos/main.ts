/**
 * `npm run chaos -- [--mqtt-mode direct|broker] [--readings N] [--rate R] [--seed S] [--faults a,b,…] [--times K] [--keep-stack] [--no-republish]`:
 * the pipeline on a private three-broker stack with every tier at once, faults injected on a
 * seeded schedule spread over readings ÷ rate seconds (the devices send at least that long, and on
 * until 5 s after the last fault has ended), then the audit per tier checked against `guarantees explain`. Exits non-zero
 * when exactly-once shows any loss or duplicate, at-least-once any loss, an observation contradicts
 * the table, or the run could not measure something (a service that would not start, a fault that
 * failed, tiers that did not settle, an audit query). Ends with one JSON line whatever happened. `--no-republish` plays devices that take a PUBACK
 * "no matching subscribers" (0x10) as delivery, which loses readings across a Mosquitto restart.
 * `--mqtt-mode` (default direct): the devices connect to the bridges (direct) or to the private
 * Mosquitto (broker); the default fault list is every fault that exists in that mode.
 */
import { parseArgs } from 'node:util';
import { errorMessage } from '../../src/core/errors.ts';
import { FAULT_KINDS, MQTT_MODES, faultsForMode, faultsOutOfMode, type FaultKind, type MqttMode } from './schedule.ts';
import { installInterruptTeardown, runChaos } from './run.ts';
import { seconds } from '../support/format.ts';

const { values } = parseArgs({
  options: {
    readings: { type: 'string', default: '1000000' },
    rate: { type: 'string', default: '3000' },
    seed: { type: 'string', default: '1' },
    'mqtt-mode': { type: 'string', default: 'direct' },
    faults: { type: 'string' },
    times: { type: 'string', default: '3' },
    'keep-stack': { type: 'boolean', default: false },
    'no-republish': { type: 'boolean', default: false },
  },
});
const mqttMode = values['mqtt-mode'] as MqttMode;
if (!MQTT_MODES.includes(mqttMode)) {
  process.stderr.write(`--mqtt-mode ${String(mqttMode)}: expected ${MQTT_MODES.join(' or ')}\n`);
  process.exit(2);
}
const faults = (values.faults === undefined ? faultsForMode(mqttMode) : values.faults.split(',').map((name) => name.trim())) as FaultKind[];
const unknown = faults.filter((fault) => !(FAULT_KINDS as readonly string[]).includes(fault));
if (unknown.length > 0) {
  process.stderr.write(`unknown fault(s): ${unknown.join(', ')}; known: ${FAULT_KINDS.join(', ')}\n`);
  process.exit(2);
}
const outOfMode = faultsOutOfMode(faults, mqttMode);
if (outOfMode.length > 0) {
  process.stderr.write(`${outOfMode.join('; ')}\n`);
  process.exit(2);
}
const say = (line: string): void => void process.stdout.write(`${line}\n`);
installInterruptTeardown(say);
let result: Awaited<ReturnType<typeof runChaos>>;
try {
  result = await runChaos({
    readings: Number(values.readings),
    ratePerSecond: Number(values.rate),
    seed: Number(values.seed),
    faults,
    timesEach: Number(values.times),
    keepStack: values['keep-stack']!,
    republishUnrouted: !values['no-republish'],
    mqttMode,
    log: say,
  });
} catch (error) {
  // runChaos reports the run's own failures; this is a defect of the chaos runner itself. Still end with the JSON line.
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  say(JSON.stringify({ bench: 'chaos', passed: false, reasons: [`chaos runner failed: ${errorMessage(error)}`] }));
  process.exit(1);
}

say('\n== faults ==');
for (const fault of result.faults) say(`${(fault.atMs / 1000).toFixed(1).padStart(6)} s  ${fault.kind.padEnd(38)} ${fault.note} (${seconds(fault.tookMs)})`);
if (result.skippedFaults.length > 0) say(`not injected: ${result.skippedFaults.join('; ')}`);
if (result.unexpectedExits.length > 0) say(`unexpected exits (restarted): ${result.unexpectedExits.join('; ')}`);
say('\n== audit per tier (acknowledged ids vs ClickHouse under FINAL) ==');
const orUnknown = (value: number | null): string => (value === null ? 'unknown' : String(value));
if (result.brokerCrash) {
  const crash = result.brokerCrash;
  say(`broker crash (${crash.kills} kill(s) of Mosquitto): ${crash.missing} acknowledged readings lost; the table predicts ${crash.predicted}, at most ${crash.allowed}: ${crash.matches ? 'matches' : 'CONTRADICTS'}`);
}
say(`edge: acknowledged readings missing from the readings topic: ${orUnknown(result.kafkaLost)}; from readings_raw: ${orUnknown(result.edgeLost)}; PUBACKs "no matching subscribers": ${result.noSubscriberPubacks}`);
say(`settling: ${result.settle}`);
for (const tier of result.tiers) {
  say(`${tier.tier.padEnd(14)} ${tier.pipeline.padEnd(11)} acknowledged ${tier.acknowledged}  stored ${tier.stored}  lost ${tier.lost}  duplicated ${tier.duplicated}  table predicts ${tier.predicted}: ${tier.matchesTable ? 'matches' : 'CONTRADICTS'}`);
}
say(`verdict: ${result.verdict.passed ? 'PASSED' : 'FAILED'}`);
for (const reason of result.verdict.reasons) say(`  - ${reason}`);
const byTier = Object.fromEntries(result.tiers.map((tier) => [tier.tier, { lost: tier.lost, duplicated: tier.duplicated }]));
say(JSON.stringify({
  bench: 'chaos',
  mqtt_mode: result.mqttMode,
  readings: result.readings,
  faults_injected: result.faults.length,
  tiers: byTier,
  edge_lost: result.edgeLost,
  kafka_lost: result.kafkaLost,
  no_subscriber_pubacks: result.noSubscriberPubacks,
  broker_crash: result.brokerCrash && { missing: result.brokerCrash.missing, allowed: result.brokerCrash.allowed, predicted: result.brokerCrash.predicted, matches: result.brokerCrash.matches },
  skipped_faults: result.skippedFaults.length,
  matches_table: result.matchesTable,
  settle: result.settle,
  settle_timed_out: result.settle === 'timed-out',
  passed: result.verdict.passed,
  reasons: result.verdict.reasons,
}));
process.exit(result.verdict.exitCode);
