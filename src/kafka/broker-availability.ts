import { sleep } from '../util/retry.ts';

/**
 * Whether Kafka answers a producer, from evidence never older than the last time librdkafka said
 * every broker was down (ERR__ALL_BROKERS_DOWN). librdkafka says when the brokers go, not when one
 * comes back, so something else has to tell: a delivery report, or an answered metadata request.
 *
 * Neither may be stale. The binding hands delivery reports and error events to JavaScript through
 * two queues of their own, and serves the events' queue first when both wait (a busy thread): the
 * report of a record acknowledged just before the brokers went away can come after the event.
 * So a report counts only for a record produced after the last "all brokers down" (its opaque
 * says when), and a metadata answer only for a request issued after it. The request is needed
 * besides: intake pauses while Kafka is away, so no new record may come to tell.
 */
export interface AvailabilityOptions {
  /** Told every change, with why. */
  readonly changed: (available: boolean, reason: string) => void;
  /** A request that only a broker that is up can answer (a metadata request); rejects otherwise. */
  readonly check: () => Promise<void>;
  /** Pause after a check that failed at once, before the next. */
  readonly checkPauseMs: number;
  readonly checkFailed?: (error: unknown) => void;
  /** Ends the checks (the producer closes). */
  readonly signal: AbortSignal;
}

export class BrokerAvailability {
  private available = false;
  /** Records with a lower opaque were produced before the last "all brokers down". */
  private firstCountingOpaque = 0;
  /** Changes on every loss: a check answered for an older one does not count. */
  private epoch = 0;
  private checking = false;

  constructor(private readonly options: AvailabilityOptions) {}

  get isAvailable(): boolean {
    return this.available;
  }

  /** A new client connected. */
  connected(): void {
    this.set(true, 'connected');
  }

  /** The client is being replaced: nothing it says counts any more. */
  lost(reason: string): void {
    this.epoch++;
    this.set(false, reason);
  }

  /** librdkafka's ERR__ALL_BROKERS_DOWN; `nextOpaque` is the opaque the next record will get. */
  allBrokersDown(nextOpaque: number): void {
    this.epoch++;
    this.firstCountingOpaque = nextOpaque;
    this.set(false, 'all brokers down');
    if (!this.checking) void this.checkUntilAvailable();
  }

  /** A record's delivery succeeded. */
  delivered(opaque: number): void {
    if (!this.available && opaque >= this.firstCountingOpaque) this.set(true, 'delivery report');
  }

  private async checkUntilAvailable(): Promise<void> {
    this.checking = true;
    try {
      while (!this.available && !this.options.signal.aborted) {
        const epoch = this.epoch;
        const answered = await this.options.check().then(
          () => true,
          (error: unknown) => {
            this.options.checkFailed?.(error);
            return false;
          },
        );
        if (answered && epoch === this.epoch) this.set(true, 'metadata answered');
        // An abort (the producer closes) ends the pause early, and the loop with it.
        else if (!answered) await sleep(this.options.checkPauseMs, this.options.signal).catch(() => undefined);
      }
    } finally {
      this.checking = false;
    }
  }

  private set(available: boolean, reason: string): void {
    if (this.available === available) return;
    this.available = available;
    this.options.changed(available, reason);
  }
}
