import { createHash } from 'node:crypto';
import { readFileSync, statSync, type Stats } from 'node:fs';

/** What a poll compares: enough of a stat to see a rewrite, a rename over the file or a symlink swap. */
export interface FileStamp {
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  readonly size: number;
  readonly ino: number;
}

/**
 * How long after a write its file can still be rewritten with the same stamp: a file system's
 * timestamps are coarse (a kernel tick, or a second on some), so two writes of the same size in one
 * tick look alike. A version read within this long of its own mtime is "racy", as git calls it,
 * and the next poll compares contents.
 */
export const RACY_MS = 2000;

export type PollVerdict = 'changed' | 'racy' | 'same';

/** Whether the file at `current` may differ from the version read at `readAtMs` with `loaded`. */
export function pollVerdict(loaded: FileStamp | null, readAtMs: number, current: FileStamp | null): PollVerdict {
  if (loaded === null || current === null) return loaded === current ? 'same' : 'changed';
  if (loaded.mtimeMs !== current.mtimeMs || loaded.ctimeMs !== current.ctimeMs || loaded.size !== current.size || loaded.ino !== current.ino) return 'changed';
  return readAtMs - loaded.mtimeMs < RACY_MS ? 'racy' : 'same';
}

function stampOf(stats: Stats): FileStamp {
  return { mtimeMs: stats.mtimeMs, ctimeMs: stats.ctimeMs, size: stats.size, ino: stats.ino };
}

function statOrNull(file: string): FileStamp | null {
  try {
    return stampOf(statSync(file));
  } catch {
    return null; // gone for the moment (a rename in progress): the next poll sees the new file
  }
}

const digest = (text: string): string => createHash('sha256').update(text).digest('hex');

/**
 * Polls one file and calls `changed` with its new text whenever its content changed, including a
 * rewrite of the same size within the file system's timestamp resolution (which Node's watchFile,
 * comparing stats alone, misses). `now` is injected so that the racy rule is testable.
 */
export class FilePoller {
  private stamp: FileStamp | null;
  private readAtMs: number;
  private contentDigest: string;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly file: string,
    initialText: string,
    private readonly changed: (text: string) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.stamp = statOrNull(file);
    this.readAtMs = now();
    this.contentDigest = digest(initialText);
  }

  start(intervalMs: number): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => this.poll(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One poll; public for tests. Read errors surface through `changed`'s caller on the next read. */
  poll(): void {
    const current = statOrNull(this.file);
    const verdict = pollVerdict(this.stamp, this.readAtMs, current);
    if (verdict === 'same' || current === null) return;
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch {
      return; // replaced between stat and read: the next poll reads the new one
    }
    this.stamp = current;
    this.readAtMs = this.now();
    const next = digest(text);
    if (next === this.contentDigest) return;
    this.contentDigest = next;
    this.changed(text);
  }
}
