import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../src/stack/paths.ts';

/**
 * test/integration/run-alone.txt, beside-unit-shared.txt and beside-unit-private.txt decide which
 * integration files `npm test` runs one at a time, or while the unit tests run (deploy/stack/test.sh).
 * A renamed file would silently move into the concurrent group, where stopping a shared server
 * breaks the tests beside it.
 */
const LISTS = ['run-alone.txt', 'beside-unit-shared.txt', 'beside-unit-private.txt'];

function listed(list: string): string[] {
  const lines = readFileSync(join(REPO_ROOT, 'test/integration', list), 'utf8').split('\n');
  const entries = lines.filter((line) => line.trim() !== '' && !line.trimStart().startsWith('#'));
  assert.ok(entries.length > 0, `${list} names some files`);
  return entries.map((line) => {
    const [file, reason] = line.split('#').map((part) => part.trim());
    assert.ok(file && existsSync(join(REPO_ROOT, 'test/integration', file)), `${file} (${list}) exists in test/integration`);
    assert.match(file!, /\.test\.ts$/, `${file} is a test file`);
    assert.ok(reason && reason.length > 0, `${file} says why ${list} lists it`);
    return file!;
  });
}

test('every file the lists name exists and says why; no file is on two lists', () => {
  const files = LISTS.flatMap((list) => listed(list));
  assert.deepEqual(files.filter((file, index) => files.indexOf(file) !== index), []);
});

test('deploy/stack/test.sh reads every list', () => {
  const script = readFileSync(join(REPO_ROOT, 'deploy/stack/test.sh'), 'utf8');
  for (const list of LISTS) assert.ok(script.includes(`test/integration/${list}`), `test.sh reads ${list}`);
});

/** Linux's default ip_local_port_range starts here (the CI machines' too). */
const EPHEMERAL_PORTS_FROM = 32768;

/**
 * Files that start private servers run beside the others on ports of their own: a port number two
 * files both bind (a replica set's, a private stack's) would make them fail each other at random,
 * and so would one inside the system's ephemeral range (32768–60999 here), where any neighbour's
 * outgoing connection may hold it.
 */

test('no fixed port is claimed by two integration files (or by one and the chaos run), and none lies in the ephemeral range', () => {
  const files = [
    ...readdirSync(join(REPO_ROOT, 'test/integration')).filter((name) => name.endsWith('.ts')).map((name) => `test/integration/${name}`),
    'loadtest/chaos/run.ts',
  ];
  const owners = new Map<number, string>();
  const clashes: string[] = [];
  for (const file of files) {
    const text = readFileSync(join(REPO_ROOT, file), 'utf8');
    const ports = new Set([...text.matchAll(/(?:port|http|tcp|interserver|zookeeper)\w*['"]?\s*[:=]\s*'?(\d{4,5})\b/gi)].map((match) => Number(match[1])));
    for (const port of ports) {
      const owner = owners.get(port);
      if (owner !== undefined) clashes.push(`${port}: ${owner} and ${file}`);
      else owners.set(port, file);
    }
  }
  assert.ok(owners.size >= 10, `the scan finds the fixed ports (found ${owners.size})`);
  assert.deepEqual(clashes, []);
  assert.deepEqual([...owners].filter(([port]) => port >= EPHEMERAL_PORTS_FROM).map(([port, file]) => `${port}: ${file}`), [], 'no fixed port in the ephemeral range');
});
