import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonSummary, textReport } from '../../loadtest/e2e/report.ts';
import type { EndToEndOptions, EndToEndResult } from '../../loadtest/e2e/run.ts';
import { verdictOf, type RunFigures } from '../../loadtest/e2e/verdict.ts';

/** The release check's last lines: what a person and a CI job read when the run went wrong. */
const options: EndToEndOptions = {
  ratePerSecond: 200, durationS: 3, devices: 40, connections: 2, batchSize: 5, patterns: 'steady', windowSizeMs: 5000,
  slaP95Ms: 10_000, minCompleteness: 0.999, aggregators: 0, log: () => undefined,
};

function result(figures: Partial<RunFigures>): EndToEndResult {
  const all: RunFigures = { acked: 600, lost: 0, lostSample: [], duplicated: 0, completeness: 1, p95Ms: 1000, settle: { kind: 'settled', waitedMs: 1000 }, exited: [], failures: [], ...figures };
  const verdict = verdictOf(all, options);
  return {
    runId: 'r1', database: 'load_r1', table: 'agg_load',
    fleet: { published: 600, acked: all.acked, failed: 0, messages: 120, seconds: 3, ackLatencyMs: { p50: 1, p95: 2, p99: 3, max: 4 }, ackedPerSecond: [200, 200, 200], noSubscriberPubacks: 0 },
    readingsPerS: 200, latency: { p50: 500, p95: all.p95Ms, p99: 1500, max: 2000, readings: 600 }, latencyOverTime: [],
    acceptedValues: 0, countedValues: 0, completeness: all.completeness, lateDropped: 0,
    lost: all.lost, lostSample: all.lostSample, duplicated: all.duplicated, processes: [],
    settle: all.settle, exited: all.exited, failures: all.failures, verdict, slaMet: verdict.slaMet, configFile: '',
  };
}

test('the JSON line of a run that timed out with lost readings names the loss, a sample, the timeout and the reasons', () => {
  const line = JSON.parse(jsonSummary(result({ lost: 600, lostSample: ['dev-1/1', 'dev-1/2'], completeness: 0, settle: { kind: 'timed-out', waitedMs: 5000, lastError: null } })));
  assert.equal(line.bench, 'e2e');
  assert.equal(line.lost, 600);
  assert.deepEqual(line.lost_sample, ['dev-1/1', 'dev-1/2']);
  assert.equal(line.settle, 'timed-out');
  assert.equal(line.settle_timed_out, true);
  assert.equal(line.passed, false);
  assert.equal(line.sla_met, false);
  assert.ok(line.reasons.length >= 2, JSON.stringify(line.reasons));
});

test('an audit that could not run shows lost as null in the JSON line and unknown in the text, never 0', () => {
  const unknown = result({ lost: null, duplicated: null, failures: [{ phase: 'audit', message: 'finding acknowledged ids: connection refused' }] });
  const line = JSON.parse(jsonSummary(unknown));
  assert.equal(line.lost, null);
  assert.equal(line.duplicated, null);
  const text = textReport(unknown, options);
  assert.match(text, /audit +lost unknown, duplicated unknown/);
  assert.match(text, /verdict +FAILED\n  - audit: finding acknowledged ids: connection refused/);
});

test('a clean run: the JSON line says passed with no reasons, and the text says PASSED', () => {
  const clean = result({});
  assert.deepEqual(
    (({ lost, lost_sample, settle, settle_timed_out, passed, reasons }) => ({ lost, lost_sample, settle, settle_timed_out, passed, reasons }))(JSON.parse(jsonSummary(clean))),
    { lost: 0, lost_sample: [], settle: 'settled', settle_timed_out: false, passed: true, reasons: [] },
  );
  assert.match(textReport(clean, options), /verdict +PASSED$/);
});
