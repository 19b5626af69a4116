/**
 * PUBACKs in the order the PUBLISHes arrived (MQTT 5 §4.6: a client sends PUBACKs in receipt
 * order), each only once Kafka acknowledged every record of its message.
 *
 * A ticket is released when it is settled successfully AND everything received before it was
 * released. A failed ticket is never released: it blocks the queue until the connection is
 * replaced, and the broker then redelivers it and everything after it (whose copies in Kafka
 * carry the same reading ids).
 */
export type SettleTicket = (ticket: AckTicket, ok: boolean) => void;

/**
 * One received message awaiting its PUBACK. It is also the listener of the message's publish
 * outcome (`published`), so that the hot path allocates one object per message, not a ticket
 * plus a closure.
 */
export class AckTicket {
  /** Set once mqtt.js produced the PUBACK packet for this message. */
  puback: unknown = undefined;
  settled: 'pending' | 'ok' | 'failed' = 'pending';

  constructor(
    readonly messageId: number,
    readonly connection: number,
    private readonly onOutcome: SettleTicket | undefined,
  ) {}

  /** The message's publish outcome (PublishListener): hands it to the settle function given at add(). */
  published(outcome: { readonly ok: boolean }): void {
    this.onOutcome?.(this, outcome.ok);
  }
}

export type ReleaseAck = (ticket: AckTicket) => void;

export class AckQueue {
  private queue: AckTicket[] = [];
  private head = 0;
  private readonly release: ReleaseAck;

  constructor(release: ReleaseAck) {
    this.release = release;
  }

  get waiting(): number {
    return this.queue.length - this.head;
  }

  /** True while a failed ticket blocks the queue. */
  get blocked(): boolean {
    return this.waiting > 0 && this.queue[this.head]!.settled === 'failed';
  }

  /** `onOutcome` receives the ticket's publish outcome when it is used as a PublishListener. */
  add(messageId: number, connection: number, onOutcome?: SettleTicket): AckTicket {
    const ticket = new AckTicket(messageId, connection, onOutcome);
    this.queue.push(ticket);
    return ticket;
  }

  /** mqtt.js handed over the PUBACK of `ticket`; it may be releasable now. */
  pubackReady(ticket: AckTicket, puback: unknown): void {
    ticket.puback = puback;
    this.drain();
  }

  settle(ticket: AckTicket, ok: boolean): void {
    if (ticket.settled !== 'pending') return;
    ticket.settled = ok ? 'ok' : 'failed';
    this.drain();
  }

  /** Forgets every ticket (the connection they belong to is gone); returns how many. */
  clear(): number {
    const dropped = this.waiting;
    this.queue = [];
    this.head = 0;
    return dropped;
  }

  private drain(): void {
    while (this.head < this.queue.length) {
      const ticket = this.queue[this.head]!;
      if (ticket.settled !== 'ok' || ticket.puback === undefined) break;
      this.head++;
      this.release(ticket);
    }
    // Compact now and then instead of shifting on every release.
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }
}
