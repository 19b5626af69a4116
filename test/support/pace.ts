import { setTimeout as delay } from 'node:timers/promises';

/**
 * A pause that is part of a scenario — readings spread over time, a process held back for a
 * stated span — never a wait for something to happen: for that, poll the condition (`eventually`
 * in src/stack/services.ts) or wait for an event or a log line. `why` says which part of the
 * scenario the pause plays, so that a reader (and a grep for `pace(`) can tell the two apart.
 */
export function pace(ms: number, why: string): Promise<void> {
  if (why.trim() === '') throw new Error('pace() needs the reason the scenario pauses');
  return delay(ms);
}
