import { closeSync, openSync, readSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { stackPaths, REPO_ROOT } from '../../../src/stack/paths.ts';
import type { SecurityCheck, Tally } from '../check.ts';
import type { KnownSecret, RunContext } from '../context.ts';
import { topicValues } from '../kafka-audit.ts';

/**
 * No secret in any log line or error text of the run: every secret the run knows (the secrets of
 * the bridge's configuration, every device password and gateway key it created or the stack
 * defines, and the wrong credentials it sent) is looked for — as itself, base64, hex and
 * URL-encoded — in the logs of the processes the run started, every file under the stack's log
 * directory, every answer the run received (HTTP bodies, the bridge's /metrics), and the run's
 * dead-letter topic. One attempt per secret; a finding names the secret's label and where it was,
 * never the value. Runs after the run's processes stopped, so that their logs are complete.
 */
const CHUNK_BYTES = 4 * 1024 * 1024;

export const secretsInLogs: SecurityCheck = {
  name: 'secrets-in-logs',
  requires: ['logs'],
  phase: 'after-stop',
  async run(context: RunContext, tally: Tally): Promise<void> {
    const patterns = context.secrets.map((secret) => ({ secret, forms: formsOf(secret.value) }));
    const found = new Map<KnownSecret, string[]>();
    const hit = (secret: KnownSecret, where: string): void => {
      const places = found.get(secret) ?? [];
      if (!places.includes(where)) places.push(where);
      found.set(secret, places);
    };
    const files = [...new Set([...context.logFiles, ...filesUnder(stackPaths(context.stack.stack).logDir)])];
    let bytes = 0;
    for (const file of files) bytes += searchFile(file, patterns, (secret) => hit(secret, relative(REPO_ROOT, file)));
    for (const answer of context.answers) for (const { secret, forms } of patterns) if (forms.some((form) => answer.text.includes(form))) hit(secret, `an answer (${answer.source})`);
    let letters = 0;
    if (context.bridge !== undefined) {
      for (const value of await topicValues(context.bridge.config.kafka, context.bridge.deadLetterTopic)) {
        letters++;
        const text = value.toString('utf8');
        // A dead letter keeps the refused payload base64-encoded: decoded too, so that a key inside it is found.
        const payload = /"payloadBase64":"([^"]*)"/.exec(text)?.[1];
        const decoded = payload === undefined ? '' : Buffer.from(payload, 'base64').toString('latin1');
        for (const { secret, forms } of patterns) if (forms.some((form) => text.includes(form) || decoded.includes(form))) hit(secret, 'the dead-letter topic');
      }
    }
    for (const { secret } of patterns) {
      const places = found.get(secret);
      if (places === undefined) tally.record('refused', secret.label, 'in no log or answer');
      else tally.record('admitted', secret.label, `found in ${places.slice(0, 5).join(', ')}${places.length > 5 ? ` and ${places.length - 5} more` : ''}`);
    }
    tally.note(`searched ${files.length} log files (${(bytes / 1e6).toFixed(1)} MB), ${context.answers.length} answers, ${letters} dead letters for ${patterns.length} secrets`);
  },
};

function formsOf(value: string): string[] {
  const bytes = Buffer.from(value, 'utf8');
  return [...new Set([value, bytes.toString('base64'), bytes.toString('base64url'), bytes.toString('hex'), encodeURIComponent(value), JSON.stringify(value).slice(1, -1)])];
}

function filesUnder(dir: string): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((entry) => (entry.isDirectory() ? filesUnder(join(dir, entry.name)) : entry.isFile() ? [join(dir, entry.name)] : []));
}

/** Searches a file in chunks (logs can be large), overlapping by the longest form; returns the bytes read. */
function searchFile(file: string, patterns: readonly { secret: KnownSecret; forms: string[] }[], onHit: (secret: KnownSecret) => void): number {
  let size: number;
  let fd: number;
  try {
    size = statSync(file).size;
    fd = openSync(file, 'r');
  } catch {
    return 0; // rotated or removed meanwhile
  }
  const overlap = Math.max(0, ...patterns.flatMap(({ forms }) => forms.map((form) => Buffer.byteLength(form)))) - 1;
  const buffer = Buffer.alloc(CHUNK_BYTES + overlap);
  const pending = new Set(patterns);
  try {
    // The tail of the previous chunk is kept in front of the next one, so that no form is split unseen.
    let carried = 0;
    let position = 0;
    while (position < size && pending.size > 0) {
      const read = readSync(fd, buffer, carried, CHUNK_BYTES, position);
      if (read === 0) break;
      const length = carried + read;
      const text = buffer.toString('latin1', 0, length);
      for (const pattern of [...pending]) {
        if (pattern.forms.some((form) => text.includes(Buffer.from(form, 'utf8').toString('latin1')))) {
          onHit(pattern.secret);
          pending.delete(pattern);
        }
      }
      position += read;
      const keep = Math.min(overlap, length);
      buffer.copy(buffer, 0, length - keep, length);
      carried = keep;
    }
  } finally {
    closeSync(fd);
  }
  return size;
}
