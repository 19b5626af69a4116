/**
 * `npm run security-check [-- --only name,name]`: the attack suite, against the running local
 * stack (`npm run stack -- up`). Starts its own bridge from the stack's configuration, makes the
 * attempts of every check in registry.ts, stops the bridge by its pid, and ends with one JSON line:
 *   {"bench":"security","attempts":…,"refused":…,"admitted_wrongly":…,"unexpected":…,"checks":[{"name":…,"attempts":…,"refused":…,"admitted_wrongly":…,"unexpected":…,"detail":…},…],"skipped":[…]}
 * Exit code 1 when anything was admitted wrongly, an attempt was answered otherwise than
 * documented (unexpected), or a check made no attempt.
 */
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { errorMessage } from '../../src/core/errors.ts';
import { runSecurityChecks } from './run.ts';

const { values } = parseArgs({ options: { only: { type: 'string' } } });
const say = (line: string): void => void process.stdout.write(`${line}\n`);
say(`machine: ${cpus().length} cores, node ${process.version}`);
try {
  const result = await runSecurityChecks({ log: (line) => say(`  ${line}`), ...(values.only === undefined ? {} : { only: values.only.split(',').map((name) => name.trim()) }) });
  for (const check of result.checks) if (check.admitted_wrongly > 0 || check.unexpected > 0 || check.attempts === 0) say(`  ! ${check.name}: ${check.detail}`);
  say(JSON.stringify(result));
  process.exitCode = result.admitted_wrongly > 0 || result.unexpected > 0 || result.checks.some((check) => check.attempts === 0) ? 1 : 0;
} catch (error) {
  // Nothing could be checked: still one JSON line, saying why.
  say(JSON.stringify({ bench: 'security', attempts: 0, refused: 0, admitted_wrongly: 0, unexpected: 1, checks: [], skipped: [], error: errorMessage(error) }));
  process.exitCode = 1;
}
