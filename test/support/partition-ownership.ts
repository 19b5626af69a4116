/**
 * Which partitions an aggregator owns now, read from its JSON log: each 'partition assigned' line
 * adds one, each 'partitions revoked' line removes those it lists. Tests wait on this condition
 * instead of sleeping past a session timeout.
 */
export function partitionsOwned(log: string): Set<number> {
  const owned = new Set<number>();
  for (const line of log.split('\n')) {
    if (!line.startsWith('{')) continue;
    let entry: { msg?: unknown; partition?: unknown; partitions?: unknown };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      continue; // a line cut by the read in the middle of a write
    }
    if (entry.msg === 'partition assigned' && typeof entry.partition === 'number') owned.add(entry.partition);
    if (entry.msg === 'partitions revoked' && Array.isArray(entry.partitions)) {
      for (const partition of entry.partitions) owned.delete(partition as number);
    }
  }
  return owned;
}
