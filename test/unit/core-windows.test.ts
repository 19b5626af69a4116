import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/core/errors.ts';
import {
  alignedStart,
  assignWindows,
  intersects,
  mergeWindows,
  slidingWindows,
  tumblingWindow,
  validateWindowSpec,
  windowsPerReading,
} from '../../src/core/windows.ts';

test('tumbling: a window is [start, start + size), start inclusive, end exclusive', () => {
  assert.deepEqual(tumblingWindow(0, 5000), { start: 0, end: 5000 });
  assert.deepEqual(tumblingWindow(4999, 5000), { start: 0, end: 5000 });
  assert.deepEqual(tumblingWindow(5000, 5000), { start: 5000, end: 10_000 });
  assert.deepEqual(assignWindows({ kind: 'tumbling', sizeMs: 5000 }, 12_345), [{ start: 10_000, end: 15_000 }]);
});

test('tumbling: negative times align to epoch 0 as well', () => {
  assert.deepEqual(tumblingWindow(-1, 5000), { start: -5000, end: 0 });
  assert.deepEqual(tumblingWindow(-5000, 5000), { start: -5000, end: 0 });
  assert.deepEqual(tumblingWindow(-5001, 5000), { start: -10_000, end: -5000 });
  // -0 must not leak out as a start of -0 (it would serialise and compare differently).
  assert.ok(Object.is(tumblingWindow(-0, 5000).start, 0), 'start of -0');
});

test('tumbling: exact near 2^53, where floor(t / size) * size rounds across a boundary', () => {
  const size = 5000;
  const t = 2 ** 53 - 2; // the largest even integer below 2^53; t % 5000 is exact
  const start = alignedStart(t, size);
  assert.equal(start % size, 0);
  assert.ok(start <= t && t < start + size, `${t} in [${start}, ${start + size})`);
  assert.equal(t - start, t % size);
  // Epoch milliseconds of today, one below a boundary.
  assert.equal(alignedStart(1_700_000_004_999, size), 1_700_000_000_000);
  assert.equal(alignedStart(1_700_000_005_000, size), 1_700_000_005_000);
});

test('sliding: a reading lands in size/slide windows, ascending, each containing it', () => {
  const windows = slidingWindows(12_345, 10_000, 5000);
  assert.deepEqual(windows, [
    { start: 5000, end: 15_000 },
    { start: 10_000, end: 20_000 },
  ]);
  assert.deepEqual(slidingWindows(10_000, 10_000, 2500).map((w) => w.start), [2500, 5000, 7500, 10_000]);
  assert.deepEqual(slidingWindows(-1, 10_000, 5000), [
    { start: -10_000, end: 0 },
    { start: -5000, end: 5000 },
  ]);
  for (const t of [-12_345, -1, 0, 1, 4999, 5000, 99_999]) {
    const ws = assignWindows({ kind: 'sliding', sizeMs: 60_000, slideMs: 15_000 }, t);
    assert.equal(ws.length, 4);
    for (const w of ws) assert.ok(w.start <= t && t < w.end, `${t} in [${w.start}, ${w.end})`);
  }
  assert.equal(windowsPerReading({ kind: 'sliding', sizeMs: 60_000, slideMs: 15_000 }), 4);
  // slide = size is tumbling.
  assert.deepEqual(slidingWindows(7, 5000, 5000), [{ start: 0, end: 5000 }]);
});

test('session: the proto-window is [t, t + gap); overlapping proto-windows merge, touching ones do not', () => {
  assert.deepEqual(assignWindows({ kind: 'session', gapMs: 1000 }, 500), [{ start: 500, end: 1500 }]);
  assert.equal(intersects({ start: 0, end: 1000 }, { start: 999, end: 1999 }), true);
  assert.equal(intersects({ start: 0, end: 1000 }, { start: 1000, end: 2000 }), false);
  const protos = [3000, 0, 500, 1499, 5000].map((t) => ({ start: t, end: t + 1000 }));
  assert.deepEqual(mergeWindows(protos), [
    { start: 0, end: 2499 },
    { start: 3000, end: 4000 },
    { start: 5000, end: 6000 },
  ]);
  // A reading that bridges two sessions merges them.
  assert.deepEqual(mergeWindows([...protos, { start: 2400, end: 3400 }]), [
    { start: 0, end: 4000 },
    { start: 5000, end: 6000 },
  ]);
  // Order-independent.
  assert.deepEqual(mergeWindows([...protos].reverse()), mergeWindows(protos));
});

test('window specs are validated with the key named', () => {
  assert.throws(
    () => validateWindowSpec({ kind: 'sliding', sizeMs: 10_000, slideMs: 3000 }),
    (error: unknown) => error instanceof ConfigError && /window\.slideMs.*divide/.test(error.message),
  );
  assert.throws(() => validateWindowSpec({ kind: 'tumbling', sizeMs: 0 }), /window\.sizeMs/);
  assert.throws(() => validateWindowSpec({ kind: 'session', gapMs: 1.5 }), /window\.gapMs/);
  assert.doesNotThrow(() => validateWindowSpec({ kind: 'sliding', sizeMs: 10_000, slideMs: 2500 }));
});
