import { test } from 'node:test';
import assert from 'node:assert/strict';
import { instancesFlag, parseCgroupCpuMax, resolveInstances } from '../../src/aggregator/instances.ts';
import { ConfigError } from '../../src/core/errors.ts';

test('instances: a configured count wins over cores and CPU limits', () => {
  for (const configured of [1, 2, 3, 16]) {
    assert.equal(resolveInstances(configured, 2, null), configured);
    assert.equal(resolveInstances(configured, 64, 0.5), configured);
  }
});

test('instances 0: one per usable core, capped by the cgroup CPU quota (rounded up), never below 1', () => {
  const cases: [cores: number, limit: number | null, expected: number][] = [
    [2, null, 2],
    [32, null, 32],
    [32, 2, 2],
    [32, 1.5, 2],
    [32, 0.1, 1],
    [2, 8, 2],
    [1, null, 1],
  ];
  for (const [cores, limit, expected] of cases) assert.equal(resolveInstances(0, cores, limit), expected, `cores ${cores}, limit ${limit}`);
});

test('cgroup v2 cpu.max: a quota over a period, or no limit', () => {
  assert.equal(parseCgroupCpuMax('200000 100000\n'), 2);
  assert.equal(parseCgroupCpuMax('150000 100000'), 1.5);
  assert.equal(parseCgroupCpuMax('max 100000\n'), null);
  assert.equal(parseCgroupCpuMax(''), null);
  assert.equal(parseCgroupCpuMax('garbage'), null);
  assert.equal(parseCgroupCpuMax('100 0'), null);
});

test('--instances N on the command line; a malformed value is a configuration error naming the key', () => {
  assert.equal(instancesFlag(['node', 'main.ts']), null);
  assert.equal(instancesFlag(['node', 'main.ts', '--instances', '3']), 3);
  assert.equal(instancesFlag(['node', 'main.ts', '--config', 'x.yaml', '--instances', '0']), 0);
  for (const bad of [[], ['two'], ['-1'], ['1.5'], ['257']]) {
    assert.throws(() => instancesFlag(['node', 'main.ts', '--instances', ...bad]), (error: unknown) => error instanceof ConfigError && /--instances/.test(error.message));
  }
});
