import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../src/stack/paths.ts';

/**
 * test/integration/run-alone.txt and run-beside.txt decide which integration files `npm test` runs
 * one at a time, last or beside the others (deploy/stack/test.sh). A renamed file would silently
 * move into the concurrent group, where stopping a shared server breaks the tests beside it.
 */
function listedFiles(list: string): string[] {
  const lines = readFileSync(join(REPO_ROOT, 'test/integration', list), 'utf8').split('\n');
  const entries = lines.filter((line) => line.trim() !== '' && !line.trimStart().startsWith('#'));
  assert.ok(entries.length > 0, `${list} names some files`);
  return entries.map((line) => {
    const [file, reason] = line.split('#').map((part) => part.trim());
    assert.ok(file && existsSync(join(REPO_ROOT, 'test/integration', file)), `${file} (${list}) exists in test/integration`);
    assert.match(file!, /\.test\.ts$/, `${file} is a test file`);
    assert.ok(reason && reason.length > 0, `${file} says why it is in ${list}`);
    return file!;
  });
}

test('every file run-alone.txt and run-beside.txt name exists and says why it is there, and no file is in both', () => {
  const alone = listedFiles('run-alone.txt');
  const beside = listedFiles('run-beside.txt');
  assert.deepEqual(alone.filter((file) => beside.includes(file)), []);
});
