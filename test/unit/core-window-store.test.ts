import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WindowStore, type WindowState } from '../../src/core/window-store.ts';
import { encodeStore } from '../../src/core/window-store-snapshot.ts';

/**
 * The window store keeps its own books: a count-only reading is counted by the store (in the
 * series, where no window is read), and every way a count is read — a row, a snapshot — sees it.
 */

test('count-only tumbling: the store counts readings of the recent window in the series and settles them when the window is read', () => {
  const store = new WindowStore({ pooling: true, countOnly: true, countsInRecent: true });
  const series = store.getOrCreateSeries('t', 'd', 'm');
  const first = store.addAligned(series, 0, 5000);
  first.absorb(0, 0, 0, 0, 0);
  for (let i = 0; i < 3; i++) assert.equal(store.countRecentReading(series, 0), true);
  assert.equal(store.countRecentReading(series, 5000), false, 'another window is not the recent one: nothing counted');
  const second = store.addAligned(series, 5000, 10_000);
  assert.equal(first.count, 4, 'a window that stops being recent gets its pending count');
  assert.equal(store.countRecentReading(series, 5000), true);
  assert.equal(store.settleCount(second).count, 1);
  assert.equal(store.settleCount(first).count, 4);
});

test('count-only sliding: the store counts readings in the series, and rows and snapshots read the counts', () => {
  const store = new WindowStore({ pooling: true, countOnly: true, countsInSeries: true });
  const series = store.getOrCreateSeries('t', 'd', 'm');
  const windows: WindowState[] = [store.addAligned(series, 0, 10_000), store.addAligned(series, 5000, 15_000)];
  store.countReading(series, 0);
  store.countReading(series, 0);
  store.countReading(series, 1);
  const encoded = encodeStore(store, 0);
  assert.deepEqual(
    encoded.series[0]![3].map((tuple) => tuple[4][0]),
    [2, 1],
    'the snapshot holds the counts kept in the series',
  );
  const due: WindowState[] = [];
  store.takeDue(10_000, due);
  assert.deepEqual(due, [windows[0]]);
  assert.equal(store.settleCount(due[0]!).count, 2);
  store.closed(due[0]!, undefined);
  assert.equal(store.openCount(), 1);
  store.countReading(series, 0);
  assert.equal(store.settleCount(windows[1]!).count, 2, 'after the first window left, index 0 is the second');
});

test('a store that does not count in series counts nothing there', () => {
  const store = new WindowStore({ pooling: true });
  const series = store.getOrCreateSeries('t', 'd', 'm');
  const window = store.addAligned(series, 0, 5000);
  assert.equal(store.countRecentReading(series, 0), false);
  assert.equal(store.settleCount(window).count, 0);
});
