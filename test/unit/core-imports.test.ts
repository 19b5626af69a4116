import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { REPO_ROOT } from '../../src/stack/paths.ts';

/**
 * The pure core knows nothing of I/O or configuration: every relative import of a file under
 * src/core resolves inside src/core, and no core file imports a Node I/O module or a client
 * library. Configuration maps onto the core's own types (for example ValidationLimits).
 */
const CORE = join(REPO_ROOT, 'src', 'core');
const FORBIDDEN_PACKAGES = /^(node:)?(fs|net|http|https|tls|child_process|dgram|worker_threads)(\/|$)|^@confluentinc\/|^@clickhouse\/|^mqtt|^pino|^prom-client/;

function coreFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? coreFiles(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
}

test('every import of src/core stays inside src/core and touches no I/O', () => {
  const files = coreFiles(CORE);
  assert.ok(files.length > 30, `found ${files.length} core files`);
  const outside: string[] = [];
  for (const file of files) {
    for (const match of readFileSync(file, 'utf8').matchAll(/^\s*(?:import|export)[^'"]*from\s+['"]([^'"]+)['"]/gm)) {
      const specifier = match[1]!;
      const where = relative(REPO_ROOT, file);
      if (specifier.startsWith('.')) {
        const target = resolve(dirname(file), specifier);
        if (!target.startsWith(CORE + '/')) outside.push(`${where} imports ${specifier}`);
      } else if (FORBIDDEN_PACKAGES.test(specifier)) {
        outside.push(`${where} imports ${specifier}`);
      }
    }
  }
  assert.deepEqual(outside, []);
});

test('src/ imports neither the bridge, the load tests nor the tests; edge/ and loadtest/ never import tests', () => {
  const offenders: string[] = [];
  for (const [dir, forbidden] of [['src', /^(test|loadtest|edge)\//], ['edge', /^(test|loadtest)\//], ['loadtest', /^test\//]] as const) {
    for (const file of coreFiles(join(REPO_ROOT, dir))) {
      for (const match of readFileSync(file, 'utf8').matchAll(/^\s*(?:import|export)[^'"]*from\s+['"](\.[^'"]+)['"]/gm)) {
        const target = relative(REPO_ROOT, resolve(dirname(file), match[1]!));
        if (forbidden.test(target)) offenders.push(`${relative(REPO_ROOT, file)} imports ${target}`);
      }
    }
  }
  assert.deepEqual(offenders, []);
});
