import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/load.ts';
import { failureAnalysis, observationMatches } from '../../src/core/failure-analysis.ts';
import { guaranteeSettings } from '../../src/config/guarantees.ts';
import { checkBrokerCrashes } from '../../loadtest/chaos/audit.ts';

/**
 * The chaos run's broker-mode check: what the Mosquitto kills lost against the failure table's
 * broker-crash row, per kill through observationMatches, the allowances added up.
 */
const broker = (mode: 'off' | 'autosave-interval' | 'autosave-on-changes', autosave = 5) =>
  loadConfig({ env: {}, overrides: { mqtt: { mode: 'broker', brokerPersistence: { mode, autosave } } } });
const kill = { kind: 'kill-mosquitto-bridge-held' as const, heldMs: 8000 };

test('no Mosquitto kill, no check', () => {
  assert.equal(checkBrokerCrashes(broker('autosave-interval'), [{ kind: 'kill-bridge' }], { ratePerSecond: 1000 }, 0), null);
});

test('autosave every 5 s: each kill may lose at most ~6 s of traffic, and the kills add up', () => {
  const one = checkBrokerCrashes(broker('autosave-interval'), [kill], { ratePerSecond: 1000 }, 0)!;
  assert.equal(one.allowed, 6000);
  assert.equal(one.predicted, 'lost');
  const two = checkBrokerCrashes(broker('autosave-interval'), [kill, kill], { ratePerSecond: 1000 }, 12_000)!;
  assert.deepEqual({ allowed: two.allowed, matches: two.matches, kills: two.kills }, { allowed: 12_000, matches: true, kills: 2 });
  assert.equal(checkBrokerCrashes(broker('autosave-interval'), [kill, kill], { ratePerSecond: 1000 }, 12_001)!.matches, false);
});

test('the devices\' real rate while the bridges were held counts, not the nominal one: a fleet catching up publishes above it', () => {
  // Seen: 6,009 lost against 6,000 allowed at a nominal 1,000/s, the fleet acknowledged ~1,070/s then.
  const ackedPerSecond = Array.from({ length: 60 }, (_, second) => (second >= 20 && second < 30 ? 1100 : 1000));
  const held = { ...kill, startedMs: 20_500 };
  const check = checkBrokerCrashes(broker('autosave-interval'), [held], { ratePerSecond: 1000, ackedPerSecond }, 6009)!;
  assert.equal(check.allowed, 6600);
  assert.equal(check.matches, true);
  // One busy second while held does not count as six: the busiest 6 s decide.
  const oneBurst = Array.from({ length: 60 }, (_, second) => (second === 24 ? 3000 : 1000));
  assert.equal(checkBrokerCrashes(broker('autosave-interval'), [held], { ratePerSecond: 1000, ackedPerSecond: oneBurst }, 0)!.allowed, 8000);
  // A burst elsewhere in the run allows nothing more.
  const burstBefore = ackedPerSecond.map((count, second) => (second < 10 ? 5000 : count));
  assert.equal(checkBrokerCrashes(broker('autosave-interval'), [{ ...kill, startedMs: 40_500 }], { ratePerSecond: 1000, ackedPerSecond: burstBefore }, 0)!.allowed, 6000);
  // Persistence off: the backlog is what the devices were acknowledged while held, a second either side.
  assert.equal(checkBrokerCrashes(broker('off'), [held], { ratePerSecond: 1000, ackedPerSecond }, 0)!.allowed, 1000 + 10 * 1100);
});

test('persistence off: the whole held-back backlog may go', () => {
  assert.equal(checkBrokerCrashes(broker('off'), [kill], { ratePerSecond: 1000 }, 0)!.allowed, 9000);
});

test('the allowance is the largest loss observationMatches accepts, for every persistence setting', () => {
  for (const config of [broker('off'), broker('autosave-interval', 5), broker('autosave-interval', 30), broker('autosave-on-changes', 100)]) {
    const row = failureAnalysis(guaranteeSettings(config, config.aggregator.pipelines[0]!)).find((r) => r.id === 'mqtt-broker-crash')!;
    for (const rate of [50, 1000, 3000]) {
      const { allowed } = checkBrokerCrashes(config, [kill], { ratePerSecond: rate }, 0)!;
      const observation = { ratePerSecond: rate, backlog: Math.ceil(rate * 9) };
      assert.ok(observationMatches(row, { ...observation, missing: allowed }), `${config.mqtt.brokerPersistence.mode} at ${rate}/s`);
      assert.ok(!observationMatches(row, { ...observation, missing: allowed + 1 }) || allowed === observation.backlog, `${config.mqtt.brokerPersistence.mode} at ${rate}/s`);
    }
  }
});

test('direct mode: the table predicts no loss, so a kill allows none', () => {
  const direct = loadConfig({ env: {}, overrides: { mqtt: { mode: 'direct' } } });
  const check = checkBrokerCrashes(direct, [kill], { ratePerSecond: 1000 }, 1)!;
  assert.deepEqual({ allowed: check.allowed, matches: check.matches, predicted: check.predicted }, { allowed: 0, matches: false, predicted: 'exact' });
});
