import type { ClientConnection } from './connection.ts';
import type { EndpointContext } from './context.ts';
import { isResult, messageCode, readMessage, sendMessage, type Message } from './ingest.ts';
import { REASON, reasonLabel } from './limits.ts';
import { willDelayMs, type Will } from './will.ts';

/** setTimeout's limit (about 24.8 days): a longer session expiry publishes its will then. */
const LONGEST_TIMER_MS = 2 ** 31 - 1;

export type WillEvent = 'received' | 'refused' | 'discarded' | 'cancelled' | 'published' | 'dead-lettered' | 'no-records' | 'failed';

/**
 * The wills of ended connections: published at once, or after their Will Delay Interval unless
 * the client id comes back and continues the session (will.ts has the rules). Publishing takes
 * the path of a PUBLISH from the will's account (ingest.ts); there is no device left to
 * acknowledge, so the outcome is only counted (tp_edge_mqtt_direct_wills_total) and a will Kafka
 * did not take is logged as an error.
 *
 * Waiting wills live in this bridge's memory, like the sessions they belong to: they are bounded
 * by mqtt.listen.maxSessionExpirySeconds, and a bridge that stops ends every session, so it
 * publishes every waiting will before it closes (stop()).
 */
export class Wills {
  private readonly waiting = new Map<string, { readonly will: Will; readonly timer: NodeJS.Timeout }>();
  private inFlight = 0;
  private stopping = false;
  private idle: (() => void) | undefined;

  constructor(private readonly context: () => EndpointContext) {}

  /** Wills waiting for their delay. */
  get pending(): number {
    return this.waiting.size;
  }

  count(event: WillEvent): void {
    this.context().metrics.wills.labels(event).inc();
  }

  /** The connection's will is not to be published: a DISCONNECT 0x00, or a takeover that continues the session. */
  discard(connection: ClientConnection, event: 'discarded' | 'cancelled'): void {
    if (connection.will === undefined) return;
    connection.will = undefined;
    this.count(event);
  }

  /** The connection of `will` ended without discarding it: published now, or once its delay passed. */
  ended(will: Will, sessionExpirySeconds: number): void {
    const delayMs = this.stopping ? 0 : willDelayMs(will.delaySeconds, sessionExpirySeconds);
    if (delayMs === 0) {
      this.publish(will);
      return;
    }
    // A client id has one session; a will of it still waiting would belong to a session that ended.
    this.reconnected(will.clientId, true);
    const timer = setTimeout(() => {
      this.waiting.delete(will.clientId);
      this.publish(will);
    }, Math.min(delayMs, LONGEST_TIMER_MS));
    timer.unref();
    this.waiting.set(will.clientId, { will, timer });
  }

  /** A CONNECT of `clientId` was accepted: its waiting will is published now if its session ended, cancelled if it continues. */
  reconnected(clientId: string, sessionEnds: boolean): void {
    const entry = this.waiting.get(clientId);
    if (entry === undefined) return;
    this.waiting.delete(clientId);
    clearTimeout(entry.timer);
    if (sessionEnds) this.publish(entry.will);
    else this.count('cancelled');
  }

  /** The bridge stops, and every session with it: waiting wills are published now, and so is every will of a connection ending from here on. */
  stop(): void {
    this.stopping = true;
    for (const clientId of [...this.waiting.keys()]) this.reconnected(clientId, true);
  }

  /** Waits until Kafka settled every will handed to it (or `timeoutMs` passed); returns how many did not settle. */
  async settled(timeoutMs: number): Promise<number> {
    if (this.inFlight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        timer.unref();
        this.idle = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.idle = undefined;
    }
    return this.inFlight;
  }

  private publish(will: Will): void {
    const context = this.context();
    const receivedAt = context.now();
    context.edgeMetrics.hot.mqtt.messages++;
    const message = readMessage(context, will.check, will.topic, will.payload, receivedAt);
    const code = messageCode(will.check, message);
    if (code !== REASON.success) context.metrics.refusals.labels(reasonLabel(code), 'will').inc();
    const event = outcomeOf(message);
    this.inFlight++;
    sendMessage(context, will.identity, will.check, will.topic, will.payload, receivedAt, markedAsWill(message), (outcome) => {
      this.inFlight--;
      if (outcome.ok) {
        this.count(event);
      } else {
        this.count('failed');
        context.logger.error({ clientId: will.clientId, topic: will.topic, err: outcome.error?.message }, 'will message not taken by Kafka: lost');
      }
      if (this.inFlight === 0) this.idle?.();
    });
    // Debug, not info: a network outage ends thousands of connections at once.
    context.logger.debug({ clientId: will.clientId, topic: will.topic, outcome: event }, 'will message published');
  }
}

function outcomeOf(message: Message): 'published' | 'dead-lettered' | 'no-records' {
  if (!isResult(message) || message.readings.length > 0) return 'published';
  return message.rejections.length > 0 ? 'dead-lettered' : 'no-records';
}

/** Dead letters of a will say so: its payload was written at CONNECT, maybe long before it was published. */
function markedAsWill(message: Message): Message {
  if (!isResult(message) || message.rejections.length === 0) return message;
  return { readings: message.readings, rejections: message.rejections.map((rejection) => ({ ...rejection, detail: `will message: ${rejection.detail}` })) };
}
