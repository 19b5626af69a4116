import cliProgress from 'cli-progress';

/**
 * Progress of a long CLI command: a bar with an ETA (cli-progress) on a terminal, plain lines at
 * most every few seconds otherwise (a CI log or a file would fill with redrawn bars).
 */
export interface Progress {
  start(total: number): void;
  update(done: number): void;
  stop(): void;
}

const PLAIN_INTERVAL_MS = 5000;

export function createProgress(label: string, stream: NodeJS.WriteStream = process.stderr, now: () => number = Date.now): Progress {
  if (stream.isTTY) return barProgress(label, stream);
  return plainProgress(label, (line) => stream.write(`${line}\n`), now);
}

function barProgress(label: string, stream: NodeJS.WriteStream): Progress {
  const bar = new cliProgress.SingleBar(
    { stream, format: `${label} [{bar}] {percentage}% | {value}/{total} | ETA {eta_formatted} | {duration_formatted}`, hideCursor: true, etaBuffer: 50 },
    cliProgress.Presets.shades_classic,
  );
  return {
    start: (total) => bar.start(Math.max(total, 1), 0),
    update: (done) => bar.update(done),
    stop: () => bar.stop(),
  };
}

/** Plain lines: done/total, percentage, and an ETA from the average rate so far. */
export function plainProgress(label: string, write: (line: string) => void, now: () => number): Progress {
  let total = 0;
  let startedAt = 0;
  let lastAt = 0;
  let last = 0;
  const line = (done: number): string => {
    const elapsed = now() - startedAt;
    const share = total > 0 ? Math.min(1, done / total) : 1;
    const eta = done > 0 && done < total ? ` ETA ${Math.round(((total - done) * elapsed) / done / 1000)} s` : '';
    return `${label}: ${done}/${total} (${Math.floor(share * 100)}%)${eta}`;
  };
  return {
    start: (value) => {
      total = value;
      startedAt = now();
      lastAt = startedAt;
      write(line(0));
    },
    update: (done) => {
      last = done;
      if (now() - lastAt < PLAIN_INTERVAL_MS) return;
      lastAt = now();
      write(line(done));
    },
    stop: () => write(line(Math.max(last, 0))),
  };
}
