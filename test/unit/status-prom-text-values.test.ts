import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Gauge, Registry } from 'prom-client';
import { MetricsTextError, parsePrometheusText } from '../../src/status/prom-text.ts';

/**
 * Special float values as Prometheus reads them (Go's ParseFloat: NaN and Inf in any letter case,
 * Inf also spelled Infinity, with an optional sign). prom-client writes NaN as 'Nan' (a gauge with
 * no data yet, such as the event-loop lag mean of a process just started): a scrape holding one
 * such line must not fail as a whole.
 */
test('a NaN gauge as prom-client writes it parses as NaN, and the rest of the scrape with it', async () => {
  const registry = new Registry();
  new Gauge({ name: 'g_nan', help: 'no data yet', registers: [registry] }).set(Number.NaN);
  new Gauge({ name: 'g_one', help: 'one', registers: [registry] }).set(1);
  const samples = parsePrometheusText(await registry.metrics());
  assert.ok(Number.isNaN(samples.find((sample) => sample.name === 'g_nan')?.value));
  assert.equal(samples.find((sample) => sample.name === 'g_one')?.value, 1);
});

test('NaN and ±Inf in every spelling Prometheus accepts', () => {
  for (const text of ['NaN', 'Nan', 'nan', 'NAN']) assert.ok(Number.isNaN(parsePrometheusText(`x ${text}\n`)[0]?.value), text);
  for (const text of ['+Inf', 'Inf', 'inf', '+inf', 'INF', 'Infinity', '+infinity']) assert.equal(parsePrometheusText(`x ${text}\n`)[0]?.value, Number.POSITIVE_INFINITY, text);
  for (const text of ['-Inf', '-inf', '-Infinity']) assert.equal(parsePrometheusText(`x ${text}\n`)[0]?.value, Number.NEGATIVE_INFINITY, text);
});

test('words that only look like special values are still errors', () => {
  for (const text of ['nanx', 'infinite', '-nanny', 'in', '++Inf']) assert.throws(() => parsePrometheusText(`x ${text}\n`), MetricsTextError, text);
});
