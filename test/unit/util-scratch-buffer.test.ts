import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ScratchBuffer } from '../../src/util/scratch-buffer.ts';

test('a view shows the first n bytes of the latest write; small lengths reuse one view, larger ones do not', () => {
  const scratch = new ScratchBuffer(64, 8);
  const first = scratch.view(scratch.bytes.write('abc', 0));
  assert.equal(first.toString(), 'abc');
  const again = scratch.view(scratch.bytes.write('xyz', 0));
  assert.equal(again, first, 'one view per small length');
  assert.equal(first.toString(), 'xyz', 'a view is valid only until the next write');
  const long = scratch.view(scratch.bytes.write('0123456789', 0));
  assert.equal(long.toString(), '0123456789');
  assert.notEqual(scratch.view(10), long, 'lengths above the limit are not kept');
});
