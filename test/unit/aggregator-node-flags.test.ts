import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AGGREGATOR_NODE_FLAGS } from '../../src/aggregator/node-flags.ts';
import { REPO_ROOT } from '../../src/stack/paths.ts';

// The flags are fixed before any of our code runs, so three launchers spell them out; this keeps them equal.
test('the npm script and the container entrypoint start the aggregator with its V8 flags', () => {
  const scripts = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  const entrypoint = readFileSync(join(REPO_ROOT, 'deploy/docker/entrypoint.sh'), 'utf8');
  const entrypointLine = entrypoint.split('\n').find((line) => line.includes('src/aggregator/main.ts'));
  assert.ok(entrypointLine, 'the entrypoint starts the aggregator');
  for (const flag of AGGREGATOR_NODE_FLAGS) {
    assert.ok(scripts['aggregator']?.includes(`node ${flag} `), `npm run aggregator passes ${flag}: ${scripts['aggregator']}`);
    assert.ok(entrypointLine.includes(`node ${flag} `), `the entrypoint passes ${flag}: ${entrypointLine}`);
  }
});
