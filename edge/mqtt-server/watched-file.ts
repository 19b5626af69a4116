import { readFileSync } from 'node:fs';
import { ConfigError, errorMessage } from '../../src/core/errors.ts';
import { FilePoller } from './file-poller.ts';
export { contentLines } from '../../src/util/content-lines.ts';

/**
 * A secrets file the bridge reads at start and again whenever its content changes (the device
 * credential file, the gateway key file): parsed as a whole, so that a version that no longer
 * parses is refused (`rejected`) and the last good one stays in use.
 */
export interface WatchedFileEvents<T> {
  reloaded(value: T): void;
  rejected(error: unknown): void;
}

export class WatchedFile<T> {
  private current: T;
  private poller: FilePoller | undefined;
  private lastText = '';

  constructor(
    private readonly file: string,
    /** The setting that names the file, for the error when it cannot be read. */
    private readonly setting: string,
    private readonly parse: (text: string, file: string) => T,
    private readonly events: WatchedFileEvents<T>,
    private readonly pollMs = 1000,
  ) {
    this.current = this.read();
  }

  /** The last version that parsed. */
  get value(): T {
    return this.current;
  }

  /** Starts polling; false when it polls already. */
  watch(): boolean {
    if (this.poller !== undefined) return false;
    this.poller = new FilePoller(this.file, this.lastText, () => this.reload());
    this.poller.start(this.pollMs);
    return true;
  }

  close(): void {
    this.poller?.stop();
    this.poller = undefined;
  }

  reload(): void {
    let next: T;
    try {
      next = this.read();
    } catch (error) {
      this.events.rejected(error);
      return;
    }
    this.current = next;
    this.events.reloaded(next);
  }

  private read(): T {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
      this.lastText = text;
    } catch (error) {
      throw new ConfigError(`${this.setting} ${this.file} cannot be read: ${errorMessage(error)}`, { file: this.file });
    }
    return this.parse(text, this.file);
  }
}
