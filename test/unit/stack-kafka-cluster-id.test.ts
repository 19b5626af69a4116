import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newClusterId } from '../../src/stack/kafka.ts';

test('a new KRaft cluster id never starts with "-", which kafka-storage would read as an option', () => {
  // 0xf8 as the first byte encodes to '-' in URL-safe base64; the second draw does not.
  const draws = [Buffer.alloc(16, 0xf8), Buffer.alloc(16, 0x41)];
  const id = newClusterId(() => draws.shift() ?? Buffer.alloc(16, 0x42));
  assert.equal(id.startsWith('-'), false);
  assert.equal(id, Buffer.alloc(16, 0x41).toString('base64url'));
  assert.equal(Buffer.alloc(16, 0xf8).toString('base64url')[0], '-');
});
