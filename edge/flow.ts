/**
 * Whether the bridge takes more input. Memory in flight is bounded: past `maxInFlight` records
 * the bridge is `saturated` until it is back under the resume level (80 %, so that it does not
 * flap); while Kafka is unreachable it is `kafka-unavailable`. Intake (MQTT, HTTP) follows the
 * state; the state follows counts and Kafka's availability, nothing else.
 */
export type IntakeState = 'accepting' | 'saturated' | 'kafka-unavailable';

export type StateListener = (state: IntakeState, previous: IntakeState, reason: string) => void;

export class FlowControl {
  private readonly maxInFlight: number;
  private readonly resumeLevel: number;
  private readonly listeners: StateListener[] = [];
  private inFlight = 0;
  private kafkaAvailable = false;
  private kafkaReason = 'not connected yet';
  private current: IntakeState = 'kafka-unavailable';

  constructor(maxInFlight: number) {
    this.maxInFlight = maxInFlight;
    this.resumeLevel = Math.floor(maxInFlight * 0.8);
  }

  get state(): IntakeState {
    return this.current;
  }

  get recordsInFlight(): number {
    return this.inFlight;
  }

  get isAccepting(): boolean {
    return this.current === 'accepting';
  }

  onChange(listener: StateListener): void {
    this.listeners.push(listener);
  }

  /** Records handed to Kafka. */
  add(count: number): void {
    this.inFlight += count;
    if (this.current === 'accepting' && this.inFlight >= this.maxInFlight) this.evaluate();
  }

  /** Records settled by Kafka (delivered or failed). */
  remove(count: number): void {
    this.inFlight -= count;
    if (this.current === 'saturated' && this.inFlight <= this.resumeLevel) this.evaluate();
  }

  setKafkaAvailable(available: boolean, reason: string): void {
    this.kafkaAvailable = available;
    this.kafkaReason = reason;
    this.evaluate();
  }

  private evaluate(): void {
    let next: IntakeState;
    let reason: string;
    if (!this.kafkaAvailable) {
      next = 'kafka-unavailable';
      reason = this.kafkaReason;
    } else if (this.inFlight >= this.maxInFlight || (this.current === 'saturated' && this.inFlight > this.resumeLevel)) {
      next = 'saturated';
      reason = `${this.inFlight} records in flight (limit ${this.maxInFlight}, resume at ${this.resumeLevel})`;
    } else {
      next = 'accepting';
      reason = this.current === 'saturated' ? `${this.inFlight} records in flight` : this.kafkaReason;
    }
    if (next === this.current) return;
    const previous = this.current;
    this.current = next;
    for (const listener of this.listeners) listener(next, previous, reason);
  }
}
