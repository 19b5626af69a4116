import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { ensureTopics } from '../../src/kafka/admin.ts';
import { REPO_ROOT } from '../../src/stack/paths.ts';
import type { ServiceProcess } from '../../src/stack/services.ts';
import type { StatusData } from '../../src/status/model.ts';
import { AggregatorScenario } from '../support/aggregator-harness.ts';
import { pace } from '../support/pace.ts';
import { localGatewayKey } from '../../src/stack/local-credentials.ts';
import { bridgeEnv, deleteTopics, freePort, killAllBridges, startBridge, type BridgeProcess } from './edge-harness.ts';

/**
 * The live status page end to end: readings posted to a real bridge flow through Kafka into a real
 * aggregator; headless Chromium opens the aggregator's GET /status/ and must show live figures
 * (throughput, the pipeline's partitions, P95, watermark delay, dead letters). The screenshot is
 * left in reports/status-page.png.
 */
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/** The local stack's demo gateway key (its bridge gets the hashed key file). */
const gatewayKey = (): string => localGatewayKey(scenario.config.stack).key;
const PARTITIONS = 4;
const SCREENSHOT = join(REPO_ROOT, 'reports', 'status-page.png');

const scenario = new AggregatorScenario(
  [
    {
      name: 'live',
      guarantee: 'at-least-once',
      window: { kind: 'tumbling', sizeMs: 1000 },
      watermark: { kind: 'adaptive', quantile: 0.99, marginMs: 200, floorMs: 200, ceilingMs: 5000, horizonMs: 60_000 },
    },
    { name: 'billing', guarantee: 'exactly-once', window: { kind: 'tumbling', sizeMs: 2000 }, watermark: { kind: 'fixed', delayMs: 500 } },
  ],
  { partitions: PARTITIONS },
);
const deadLetterTopic = `${scenario.topic}-dead-letter`;
let bridge: BridgeProcess;
let aggregator: ServiceProcess;
let statusUrl: string;
/** A bridge URL nothing listens on: the page must show it down, with the reason. */
let absentBridge: string;
let context: BrowserContext | null = null;
let profileDir: string | null = null;
let feeding = true;
let feeder: Promise<void> = Promise.resolve();
let posted = 0;

/** Chromium from Debian; installed here when missing (the test runs as root, as install.sh does). */
function ensureChromium(): void {
  if (existsSync(CHROMIUM)) return;
  try {
    execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'chromium'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  } catch (error) {
    throw new Error(`${CHROMIUM} is missing and \`apt-get install -y chromium\` failed (${String(error)}); run \`npm run setup\` (deploy/stack/install.sh) as root`);
  }
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is still missing after \`apt-get install -y chromium\``);
}

/** Posts a batch every 200 ms from 8 devices, event time now; every 5th batch carries one invalid reading. */
async function feed(): Promise<void> {
  for (let batch = 0; feeding; batch++) {
    const now = Date.now();
    const readings: unknown[] = Array.from({ length: 40 }, (_, i) => ({ device: `dev-${i % 8}`, id: `r-${batch}-${i}`, ts: now - (i % 5) * 20, metrics: { temperature: 20 + (i % 7), humidity: 40 + (i % 3) } }));
    if (batch % 5 === 0) readings.push({ device: 'dev-bad', id: `bad-${batch}`, ts: now, metrics: { temperature: 'hot' } });
    const response = await fetch(`${bridge.url}/v1/readings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${gatewayKey()}` },
      body: JSON.stringify(readings),
    });
    assert.equal(response.status, 202, `the bridge refused a batch: ${await response.text()}`);
    posted += 40;
    await pace(200, 'readings arrive spread over time, as from gateways');
  }
}

before(async () => {
  ensureChromium();
  await scenario.setUp();
  await ensureTopics(scenario.config.kafka, [{ topic: deadLetterTopic, partitions: 1, replicationFactor: scenario.config.kafka.replicationFactor }]);
  bridge = await startBridge(
    bridgeEnv(scenario.config, { readings: scenario.topic, deadLetter: deadLetterTopic, run: scenario.id }, {
      TP_EDGE__MQTT_ENABLED: 'false',
      TP_KAFKA__PARTITIONS: String(PARTITIONS),
    }),
  );
  const metricsPort = await freePort();
  absentBridge = `http://127.0.0.1:${await freePort()}`;
  statusUrl = `http://127.0.0.1:${metricsPort}/status/`;
  aggregator = scenario.startAggregator('status', {
    TP_AGGREGATOR__METRICS_PORT: String(metricsPort),
    TP_AGGREGATOR__STATUS_BRIDGES: `${bridge.url},${absentBridge}`,
    TP_AGGREGATOR__SLA_P95_MS: '10000',
  });
  await aggregator.waitForLog(/aggregator started/, 90_000);
  feeder = feed();
});

after(async () => {
  feeding = false;
  // The test awaits the feeder (and fails with its assertion); here it is only stopped after a failure elsewhere.
  await feeder.catch(() => undefined);
  await context?.close();
  if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  await scenario.tearDown();
  await killAllBridges();
  await deleteTopics(scenario.config.kafka, [scenario.topic, `${scenario.topic}-late`, deadLetterTopic]);
});

async function openPage(): Promise<{ page: Page; pageErrors: string[] }> {
  profileDir = mkdtempSync(join(tmpdir(), 'tp-chromium-'));
  context = await chromium.launchPersistentContext(profileDir, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1400, height: 1000 } });
  const page = context.pages()[0] ?? (await context.newPage());
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(message.text());
  });
  await page.goto(statusUrl);
  return { page, pageErrors };
}

const rateOf = (page: Page, stage: string): Promise<number> =>
  page.$eval(`[data-stage="${stage}"] .rate`, (element) => Number(element.getAttribute('data-rate') || 'NaN'));

/** Runs in the page (a string: this project compiles without the DOM library). */
const LIVE_FIGURES_SHOWN = `(() => {
  const rate = (stage) => Number(document.querySelector('[data-stage="' + stage + '"] .rate')?.getAttribute('data-rate') || 'NaN');
  const p95 = document.querySelector('[data-p95="live"] .value')?.textContent ?? '—';
  return rate('received') > 0 && rate('published') > 0 && rate('consumed-live') > 0 && rate('inserted-live') > 0 &&
    p95 !== '—' && document.querySelector('#dead-letters [data-reason]') !== null;
})()`;

/** Runs in the page: the throughput chart's first line has at least 6 points. */
const CHARTS_DRAWN = `(document.querySelector('#chart-throughput path')?.getAttribute('d') ?? '').split('L').length >= 6`;

test('the status page shows the live pipeline: topology, throughput per stage, P95, lag, watermark delay, dead letters', { timeout: 180_000 }, async () => {
  const { page, pageErrors } = await openPage();
  assert.match(await page.title(), /live status/);

  // Live figures: readings flowing through every stage, the P95 of closed windows, a dead letter.
  // The feeder never ends while feeding: this fails at once, with its assertion, if the bridge refuses a batch.
  await Promise.race([page.waitForFunction(LIVE_FIGURES_SHOWN, undefined, { timeout: 90_000, polling: 500 }), feeder]);

  assert.ok((await rateOf(page, 'received')) > 0);
  assert.ok((await rateOf(page, 'consumed-live')) > 0);
  assert.ok((await rateOf(page, 'inserted-live')) > 0);

  // Topology: one bridge, up and accepting; the single aggregator owns every partition of the pipeline.
  assert.equal(await page.$eval(`.bridge[data-url="${bridge.url}"] .badge`, (element) => element.textContent), 'accepting');
  assert.equal(await page.$eval('#topo-kafka', (element) => element.textContent ?? ''), `Kafka topic${scenario.topic}${PARTITIONS} partitions`);
  assert.equal(await page.$eval(`.bridge[data-url="${absentBridge}"] .badge`, (element) => element.textContent), 'down');
  assert.match(await page.$eval(`.bridge[data-url="${absentBridge}"] .error`, (element) => element.textContent ?? ''), /ECONNREFUSED/);
  for (const [pipeline, tier] of [['live', 'at-least-once'], ['billing', 'exactly-once']]) {
    assert.equal(await page.$eval(`.group[data-pipeline="${pipeline}"] .title .badge`, (element) => element.textContent), tier);
    const owned = await page.$$eval(`.group[data-pipeline="${pipeline}"] .member[data-self] .chip[data-owned]`, (chips) => chips.map((chip) => Number(chip.textContent)));
    assert.deepEqual(owned, [0, 1, 2, 3], `${pipeline} owns every partition`);
    assert.equal(await page.$eval(`#pipelines tr[data-pipeline="${pipeline}"] .partitions`, (element) => element.textContent), '0 1 2 3');
  }

  // The adaptive watermark delay, the P95 against the SLA, the lag.
  assert.match(await page.$eval('#pipelines tr[data-pipeline="live"] .watermark-delay', (element) => element.textContent ?? ''), /^\d[\d,.]* (ms|s) adaptive$/);
  assert.equal(await page.$eval('#sla', (element) => element.textContent), '10 s');
  const p95Text = await page.$eval('[data-p95="live"] .value', (element) => element.textContent ?? '');
  assert.match(p95Text, /^\d[\d,.]* (ms|s)$/);
  assert.equal(await page.$eval('[data-p95="live"] .value', (element) => element.classList.contains('good')), true, `P95 ${p95Text} within the 10 s SLA`);
  assert.ok((await page.$$('#chart-p95 path')).length >= 1, 'the P95 chart draws a line');
  assert.ok((await page.$$('#chart-p95 .sla')).length === 1, 'the P95 chart draws the SLA');
  assert.ok((await page.$$('#chart-throughput path')).length >= 6, 'the throughput chart draws every stage of both pipelines');

  // Dead letters by reason: the invalid readings.
  const reasons = await page.$$eval('#dead-letters tr[data-reason]', (rows) => rows.map((row) => [row.getAttribute('data-reason'), Number((row.querySelector('.num')?.textContent ?? '0').replace(/,/g, ''))] as const));
  assert.ok(reasons.length >= 1 && reasons.every(([, count]) => count > 0), `dead-letter rows: ${JSON.stringify(reasons)}`);

  // The JSON the page draws agrees: what was consumed never exceeds what the bridge published.
  const data = (await (await fetch(`${statusUrl}data`)).json()) as StatusData;
  const published = data.stages.find((stage) => stage.stage === 'published')!.total!;
  const consumed = data.stages.find((stage) => stage.stage === 'consumed' && stage.pipeline === 'live')!.total!;
  assert.ok(consumed > 0 && consumed <= published && published <= posted + 40, `posted ${posted}, published ${published}, consumed ${consumed}`);
  assert.deepEqual(data.topology.groups.map((group) => group.members.map((member) => member.partitions)), [[[0, 1, 2, 3]], [[0, 1, 2, 3]]]);
  assert.equal(data.topology.groupsError, null);

  // The picture shows lines, not dots: the charts hold a few points first.
  await page.waitForFunction(CHARTS_DRAWN, undefined, { timeout: 60_000, polling: 500 });
  mkdirSync(join(REPO_ROOT, 'reports'), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  assert.deepEqual(pageErrors, [], 'the page ran without script errors');
  feeding = false;
  await feeder;
});
