import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildCodecRouter } from '../../edge/codecs/build.ts';
import { parseConfig } from '../../src/config/load.ts';
import { codecRulesFor, formatter, PAYLOAD_FORMATS } from '../../loadtest/fleet/formats.ts';
import { FleetModel, STEADY_PATTERNS } from '../../loadtest/fleet/model.ts';
import { decodeOn } from './codec-contract.ts';

/**
 * The load test's formats claim the ids the bridge will derive (the audit's expected set): the
 * fleet's messages, in each format, through the bridge's own codecs, give exactly those ids, per
 * device, every reading accepted, including a Sparkplug node's seq wrapping past 255.
 */
for (const format of PAYLOAD_FORMATS) {
  test(`--payload ${format}: the bridge's codec derives exactly the ids the fleet expects`, () => {
    const tenant = 'load1';
    const config = parseConfig({ mqtt: { codecs: codecRulesFor(format) } });
    const router = buildCodecRouter(config.mqtt);
    const model = new FleetModel({ tenant, devices: 3, gateways: 1, ratePerSecond: 2000, batchSize: 10, patterns: STEADY_PATTERNS, seed: 7 });
    const toFormat = formatter(format, tenant);
    const now = Date.now();
    const expected = new Map<string, string[]>();
    const derived = new Map<string, string[]>();
    for (let step = 0; step < 120; step++) {
      for (const message of model.step(now + step * 50, 50).flatMap(toFormat)) {
        const codec = router.codecFor(message.topic)!;
        assert.ok(codec, message.topic);
        const bytes = typeof message.payload === 'string' ? Buffer.from(message.payload) : message.payload;
        const result = decodeOn(codec, { topic: message.topic, bytes }, now + step * 50);
        assert.deepEqual(result.rejections, [], message.topic);
        expected.set(message.device, [...(expected.get(message.device) ?? []), ...message.ids]);
        for (const reading of result.readings) derived.set(reading.device, [...(derived.get(reading.device) ?? []), reading.id]);
      }
    }
    assert.ok([...expected.values()].every((ids) => ids.length > 300), 'enough messages per device to wrap a Sparkplug seq');
    assert.deepEqual(derived, expected);
  });
}
