import { PipelineError } from '../core/errors.ts';

export type RunnerPhase = 'created' | 'running' | 'stopping' | 'stopped' | 'failed';

/**
 * Everything a PipelineRunner knows about where it stands, in one place and changed only here:
 * its phase, its first failure (after which nothing more is committed), and the loop's clock
 * marks that decide when the next flush, commit and gauge update are due.
 */
export class RunnerState {
  private current: RunnerPhase = 'created';
  private failure: PipelineError | null = null;
  /** When the loop last handed rows to a flush. */
  private flushedAt = 0;
  /** When the loop last took a commit. */
  private committedAt = 0;
  /** When the loop last published its gauges. */
  private publishedAt = 0;

  constructor(private readonly pipeline: string) {}

  get phase(): RunnerPhase {
    return this.current;
  }

  get fatal(): PipelineError | null {
    return this.failure;
  }

  get running(): boolean {
    return this.current === 'running';
  }

  get healthy(): boolean {
    return this.current === 'running' && this.failure === null;
  }

  get lastFlushAt(): number {
    return this.flushedAt;
  }

  get lastCheckpointAt(): number {
    return this.committedAt;
  }

  get lastStatsAt(): number {
    return this.publishedAt;
  }

  /** Only a runner never started may start. */
  assertStartable(): void {
    if (this.current !== 'created') throw new PipelineError('RUNNER_STATE', `pipeline ${this.pipeline} cannot start from ${this.current}`);
  }

  /**
   * Connected: the loop runs from `now`. Set even when a consumer error failed the runner while it
   * connected: the loop's first turn then ends with that failure.
   */
  started(now: number): void {
    this.current = 'running';
    this.flushedAt = now;
    this.committedAt = now;
  }

  /** stop() asked the loop to end after its current turn. */
  stopping(): void {
    if (this.current === 'running') this.current = 'stopping';
  }

  /** Records the first failure and marks the runner failed; later failures change nothing. */
  fail(error: PipelineError): boolean {
    if (this.failure) return false;
    this.failure = error;
    this.current = 'failed';
    return true;
  }

  /** stop() completed. */
  stopped(): void {
    this.current = this.failure ? 'failed' : 'stopped';
  }

  flushed(now: number): void {
    this.flushedAt = now;
  }

  committed(now: number): void {
    this.committedAt = now;
  }

  published(now: number): void {
    this.publishedAt = now;
  }
}
