import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FilePoller, RACY_MS, pollVerdict } from '../../edge/mqtt-server/file-poller.ts';

const stamp = { mtimeMs: 10_000, ctimeMs: 10_000, size: 40, ino: 7 };

test('a stamp that differs in mtime, ctime, size or inode is a change; an equal one is racy while it is younger than RACY_MS', () => {
  for (const field of ['mtimeMs', 'ctimeMs', 'size', 'ino'] as const) {
    assert.equal(pollVerdict(stamp, 20_000, { ...stamp, [field]: stamp[field] + 1 }), 'changed', field);
  }
  assert.equal(pollVerdict(stamp, stamp.mtimeMs + RACY_MS - 1, { ...stamp }), 'racy');
  assert.equal(pollVerdict(stamp, stamp.mtimeMs + RACY_MS, { ...stamp }), 'same');
  assert.equal(pollVerdict(stamp, 20_000, null), 'changed', 'the file went away');
  assert.equal(pollVerdict(null, 20_000, stamp), 'changed', 'the file appeared');
});

test('a rewrite of the same size with the same timestamps is seen (watchFile, comparing stats alone, misses it)', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'poll-')), 'creds');
  writeFileSync(file, 'user-a\n');
  const seen: string[] = [];
  const poller = new FilePoller(file, 'user-a\n', (text) => seen.push(text));
  const { atime, mtime } = statSync(file);
  writeFileSync(file, 'user-b\n');
  utimesSync(file, atime, mtime); // as if both writes fell in one timestamp tick
  poller.poll();
  assert.deepEqual(seen, ['user-b\n']);
  poller.poll();
  assert.deepEqual(seen, ['user-b\n'], 'an unchanged file is not reported again');
});
