import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { SECURITY_CHECKS } from '../../loadtest/security/registry.ts';
import { runSecurityChecks, type SecurityRunResult } from '../../loadtest/security/run.ts';

/**
 * The attack suite of `npm run security-check` (loadtest/security/), run once against the local
 * stack: its own bridge from the stack's configuration, every check of the registry. Each check
 * must have made at least one attempt, and every attempt must have been refused the documented
 * way — none admitted wrongly, none answered otherwise than documented.
 */
let result: SecurityRunResult;
const lines: string[] = [];

before(async () => {
  result = await runSecurityChecks({ log: (line) => lines.push(line) });
}, { timeout: 300_000 });

for (const check of SECURITY_CHECKS) {
  test(`security check ${check.name}: at least one attempt, every one refused as documented, none admitted`, (t) => {
    const skipped = result.skipped.find((entry) => entry.name === check.name);
    if (skipped !== undefined) {
      t.skip(skipped.why);
      return;
    }
    const outcome = result.checks.find((entry) => entry.name === check.name);
    assert.ok(outcome, `no result for ${check.name}; the run said:\n${lines.join('\n')}`);
    t.diagnostic(`${outcome.attempts} attempts: ${outcome.detail}`);
    assert.ok(outcome.attempts >= 1, `${check.name} made no attempt: ${outcome.detail}`);
    assert.equal(outcome.admitted_wrongly, 0, outcome.detail);
    assert.equal(outcome.unexpected, 0, outcome.detail);
    assert.equal(outcome.refused, outcome.attempts);
  });
}
