/**
 * The /metrics of a supervised aggregator: every worker's Prometheus text, each sample labelled
 * with `worker="<n>"`, merged into one exposition (one HELP and TYPE per family), so that one scrape
 * of the service shows every worker. prom-client's AggregatorRegistry does not fit: it talks to
 * `cluster` workers over the cluster module's own messages and sums the workers' series into one,
 * where an operator needs to see which worker lags or restarts.
 */
export interface WorkerScrape {
  readonly worker: string;
  readonly text: string;
}

interface Family {
  help: string | null;
  type: string | null;
  readonly samples: string[];
}

/** Adds `worker="<n>"` as the first label of one sample line. */
export function labelSample(line: string, worker: string): string {
  const label = `worker="${worker}"`;
  const brace = line.indexOf('{');
  const space = line.indexOf(' ');
  if (brace >= 0 && (space < 0 || brace < space)) {
    const rest = line.slice(brace + 1);
    return `${line.slice(0, brace)}{${label}${rest.startsWith('}') ? '' : ','}${rest}`;
  }
  if (space < 0) return line;
  return `${line.slice(0, space)}{${label}}${line.slice(space)}`;
}

export function mergeWorkerMetrics(scrapes: readonly WorkerScrape[]): string {
  const families = new Map<string, Family>();
  const family = (name: string): Family => {
    let known = families.get(name);
    if (!known) {
      known = { help: null, type: null, samples: [] };
      families.set(name, known);
    }
    return known;
  };
  for (const { worker, text } of scrapes) {
    // A sample belongs to the family whose TYPE came last (a histogram's _bucket, _sum and _count lines).
    let current: Family | null = null;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const meta = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
      if (meta) {
        current = family(meta[2]!);
        if (meta[1] === 'HELP') current.help ??= line;
        else current.type ??= line;
        continue;
      }
      if (line.startsWith('#')) continue;
      const target = current ?? family(/^[^{\s]+/.exec(line)?.[0] ?? line);
      target.samples.push(labelSample(line, worker));
    }
  }
  const out: string[] = [];
  for (const { help, type, samples } of families.values()) {
    // A family a worker declares but never sets (the maintenance metrics, which only the parent
    // runs and serves itself) would be declared twice in the service's exposition.
    if (samples.length === 0) continue;
    if (help !== null) out.push(help);
    if (type !== null) out.push(type);
    out.push(...samples);
  }
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}
