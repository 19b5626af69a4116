import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../src/stack/paths.ts';

/**
 * test/integration/run-alone.txt decides which integration files `npm test` runs one at a time
 * (deploy/stack/test.sh). A renamed file would silently move into the concurrent group, where
 * stopping a shared server breaks the tests beside it.
 */
test('every file run-alone.txt names exists and says why it runs alone', () => {
  const lines = readFileSync(join(REPO_ROOT, 'test/integration/run-alone.txt'), 'utf8').split('\n');
  const entries = lines.filter((line) => line.trim() !== '' && !line.trimStart().startsWith('#'));
  assert.ok(entries.length > 0, 'the list names some files');
  for (const line of entries) {
    const [file, reason] = line.split('#').map((part) => part.trim());
    assert.ok(file && existsSync(join(REPO_ROOT, 'test/integration', file)), `${file} exists in test/integration`);
    assert.match(file!, /\.test\.ts$/, `${file} is a test file`);
    assert.ok(reason && reason.length > 0, `${file} says why it runs alone`);
  }
});
