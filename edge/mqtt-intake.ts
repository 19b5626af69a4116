import mqtt, { type IConnackPacket, type IPublishPacket, type MqttClient } from 'mqtt';
import type { EdgeConfig, MqttConfig, ValidationConfig } from '../src/config/schema.ts';
import { PipelineError, errorMessage } from '../src/core/errors.ts';
import { readCompactReading } from '../src/core/validation/compact-reading.ts';
import { parseTelemetryTopic, validateDeviceMessageInFull, type DeviceOrigin, type ValidationResult } from '../src/core/validation.ts';
import type { Logger } from '../src/util/log.ts';
import { AckQueue, type AckTicket } from './ack-queue.ts';
import type { FlowControl } from './flow.ts';
import type { EdgeMetrics } from './metrics.ts';
import { hookPubacks, type PubackHook } from './mqtt-puback-hook.ts';
import type { PublishListener, ReadingPublisher } from './publisher.ts';

/**
 * MQTT intake: an MQTT 5 client of the broker with a persistent session (clean start off, a
 * session expiry) and a shared subscription `$share/<group>/<prefix>/+/+` at QoS 1, so that
 * bridges of one group split the devices' messages and the broker keeps a bridge's share while
 * it is away.
 *
 * Publish-then-ack: a message's PUBACK goes out only after Kafka acknowledged every record of it
 * (readings and dead letters), in receipt order (ack-queue.ts). A message whose records failed is
 * never acknowledged; the connection is then replaced (once Kafka is reachable again) so that the
 * broker redelivers it.
 *
 * Backpressure: while the bridge is not `accepting`, mqtt.js parses no further packet (TCP pushes
 * back to the broker); and the broker sends at most `receiveMaximum` unacknowledged messages.
 */
/**
 * Mosquitto 2.0.11 forgets `$share` subscriptions when it restarts (they are not restored from its
 * persistence file, although the sessions and their queued messages are): until a bridge of the
 * group subscribes again, the broker answers devices' publishes with PUBACK 0x10 "no matching
 * subscribers" and drops them. So the bridge subscribes on every connection (even a resumed
 * session) and retries a lost connection quickly, to keep that window short.
 */
const RECONNECT_PERIOD_MS = 250;
/** MQTT 5 CONNACK reason codes that no retry can fix. */
const CONNACK_BAD_CREDENTIALS = 134;
const CONNACK_NOT_AUTHORIZED = 135;
/**
 * mqtt.js calls its `debug` logger several times per packet; even disabled, each call checks
 * whether it is enabled and formats nothing — measured at ~3 % of the bridge's CPU per message.
 * So the client gets a no-op logger, unless log.level is 'trace': then its messages go to our log.
 */
const MQTT_CLIENT_SILENT = (): void => undefined;
/**
 * Topics parsed so far (null: not a telemetry topic). A device publishes on the same topic again
 * and again, and parsing one (two slices, two regular expressions) cost more than the lookup; the
 * cache is emptied when full, so that a fleet of many devices costs bounded memory.
 */
const TOPIC_CACHE_LIMIT = 10_000;

export interface MqttIntakeOptions {
  readonly mqtt: MqttConfig;
  readonly validation: ValidationConfig;
  /** 'after-kafka': PUBACK after Kafka's delivery report; 'on-receipt': at once (at-most-once). */
  readonly ackMode: EdgeConfig['ackMode'];
  readonly clientId: string;
  readonly publisher: ReadingPublisher;
  readonly flow: FlowControl;
  readonly metrics: EdgeMetrics;
  readonly logger: Logger;
  readonly keepaliveSeconds?: number;
  readonly now?: () => number;
  /** TLS options of an mqtts:// broker connection (edge.tls.brokerCaFile); see edge/tls.ts brokerTls. */
  readonly tls?: { readonly ca?: Buffer };
}

export class MqttIntake {
  private readonly options: MqttIntakeOptions;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly acks: AckQueue;
  private readonly subscription: string;
  private client: MqttClient | undefined;
  private hook: PubackHook | undefined;
  /** Bumped when a connection closes: tickets of an older connection are never acknowledged. */
  private connection = 0;
  /** The ticket of the message mqtt.js is processing now; its PUBACK is the next one to come. */
  private current: AckTicket | undefined;
  private redeliveryWanted = false;
  private forcedClose = false;
  private stopping = false;
  private subscribed = false;
  private readonly origins = new Map<string, DeviceOrigin | null>();

  constructor(options: MqttIntakeOptions) {
    this.options = options;
    this.log = options.logger;
    this.now = options.now ?? Date.now;
    this.acks = new AckQueue((ticket) => this.releaseAck(ticket));
    this.subscription = `$share/${options.mqtt.shareGroup}/${options.mqtt.topicPrefix}/+/+`;
    options.flow.onChange((state) => this.onFlowChange(state));
  }

  get connected(): boolean {
    return this.client?.connected === true && this.subscribed;
  }

  /** Resolves once connected and subscribed; rejects if the broker refuses the subscription. */
  start(timeoutMs = 30_000): Promise<void> {
    const { mqtt: config } = this.options;
    const client = mqtt.connect(config.url, {
      protocolVersion: 5,
      clientId: this.options.clientId,
      username: config.username,
      password: config.password,
      clean: false,
      keepalive: this.options.keepaliveSeconds ?? 60,
      reconnectPeriod: RECONNECT_PERIOD_MS,
      connectTimeout: 10_000,
      resubscribe: false,
      queueQoSZero: false,
      log: this.log.isLevelEnabled('trace') ? (...args: unknown[]) => this.log.trace({ mqttClient: args }, 'mqtt.js') : MQTT_CLIENT_SILENT,
      properties: { sessionExpiryInterval: config.sessionExpirySeconds, receiveMaximum: config.receiveMaximum },
      ...this.options.tls,
    });
    this.client = client;
    this.hook = hookPubacks(client, (puback) => this.onPuback(puback), { onUnmatched: () => this.options.metrics.mqttUnmatchedPubacks.inc() });
    if (!this.options.flow.isAccepting) this.hook.pause();

    client.on('message', (topic, payload, packet) => this.onMessage(topic, payload, packet));
    client.on('close', () => this.onClose());
    client.on('reconnect', () => this.log.info('reconnecting to the MQTT broker'));
    client.on('error', (error) => this.log.error({ err: errorMessage(error), url: config.url }, 'MQTT client error'));

    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new PipelineError('MQTT_START_TIMEOUT', `not subscribed to ${this.subscription} within ${timeoutMs} ms`, { retriable: true, context: { url: config.url } }));
      }, timeoutMs);
      // Wrong credentials do not get better by waiting: fail the start at once.
      const refused = (error: Error & { code?: number }): void => {
        if (error.code !== CONNACK_BAD_CREDENTIALS && error.code !== CONNACK_NOT_AUTHORIZED) return;
        clearTimeout(timer);
        client.off('error', refused);
        client.end(true);
        reject(new PipelineError('MQTT_NOT_AUTHORIZED', `broker ${config.url} refused user ${config.username}: ${error.message}`, { context: { url: config.url, reasonCode: error.code } }));
      };
      client.on('error', refused);
      client.on('connect', (connack) => {
        this.onConnect(connack).then(
          () => {
            clearTimeout(timer);
            client.off('error', refused);
            resolve();
          },
          (error: unknown) => {
            this.log.error({ err: errorMessage(error), subscription: this.subscription }, 'subscribing failed');
            clearTimeout(timer);
            reject(error);
          },
        );
      });
    });
  }

  /** Takes no further message; the broker keeps (and later redelivers) what is not acknowledged. */
  stopIntake(): void {
    this.stopping = true;
    this.hook?.pause();
  }

  /** Waits (bounded) until every settled message was acknowledged, then disconnects; the session stays. */
  async close(timeoutMs = 5000): Promise<void> {
    this.stopIntake();
    const deadline = this.now() + timeoutMs;
    while (this.acks.waiting > 0 && !this.acks.blocked && this.now() < deadline && this.client?.connected) await sleep(5);
    const client = this.client;
    if (client === undefined) return;
    const unacknowledged = this.acks.waiting;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => client.end(true, {}, () => resolve()), 2000);
      client.end(false, { reasonCode: 0 }, () => {
        clearTimeout(force);
        resolve();
      });
    });
    this.options.metrics.mqttConnected.set(0);
    this.log.info({ unacknowledged }, 'MQTT intake closed; unacknowledged messages stay with the broker');
  }

  // -------------------------------------------------------------------------------------------

  private async onConnect(connack: IConnackPacket): Promise<void> {
    this.options.metrics.mqttConnected.set(1);
    const resumed = connack.sessionPresent;
    this.log.info({ clientId: this.options.clientId, sessionPresent: resumed }, 'connected to the MQTT broker');
    const client = this.client!;
    // Also on a resumed session: after a broker restart Mosquitto 2.0.11 has dropped the share (see above).
    const granted = await client.subscribeAsync(this.subscription, { qos: 1 });
    const refused = granted.find((grant) => grant.qos > 2);
    if (refused) {
      throw new PipelineError('MQTT_SUBSCRIBE_REFUSED', `broker refused ${this.subscription} (reason code ${refused.qos})`, {
        context: { subscription: this.subscription, reasonCode: refused.qos },
      });
    }
    this.subscribed = true;
    this.log.info({ subscription: this.subscription, qos: granted[0]?.qos }, 'subscribed');
  }

  private onMessage(topic: string, payload: Buffer, packet: IPublishPacket): void {
    this.current = undefined;
    // Not processed (and so not acknowledged): the broker redelivers it on the next connection.
    if (this.stopping || this.client?.connected !== true) return;
    const receivedAt = this.now();
    const onReceipt = this.options.ackMode === 'on-receipt';
    // After-Kafka tickets settle themselves from the publish outcome (no closure per message).
    const ticket =
      packet.qos > 0 && packet.messageId !== undefined ? this.acks.add(packet.messageId, this.connection, onReceipt ? undefined : this.settleTicket) : undefined;
    this.current = ticket;
    this.options.metrics.hot.mqtt.messages++;
    const origin = this.origin(topic);
    const listener = ticket === undefined || onReceipt ? IGNORE_OUTCOME : ticket;
    // Most messages are one reading in compact JSON: published without the general result objects.
    const reading = origin ? readCompactReading(payload, origin, receivedAt, this.options.validation) : undefined;
    if (reading !== undefined) {
      this.options.publisher.publishReading(reading, 'mqtt', receivedAt, listener);
    } else {
      this.publishInFull(topic, payload, origin, receivedAt, listener);
    }
    // At-most-once: acknowledged now, whatever Kafka will say (still in receipt order).
    if (ticket !== undefined && onReceipt) this.acks.settle(ticket, true);
  }

  private publishInFull(topic: string, payload: Buffer, origin: DeviceOrigin | undefined, receivedAt: number, listener: PublishListener): void {
    const result: ValidationResult = origin
      ? validateDeviceMessageInFull(payload, origin, receivedAt, this.options.validation)
      : {
          readings: [],
          rejections: [{ index: null, reason: 'bad-topic', detail: `topic is not ${this.options.mqtt.topicPrefix}/<tenant>/<device> with safe names`, item: null }],
        };
    this.options.publisher.publish(result, { source: 'mqtt', origin: topic, deadLetterKey: origin?.device ?? topic, payload, receivedAt }, listener);
  }

  private origin(topic: string): DeviceOrigin | undefined {
    let origin = this.origins.get(topic);
    if (origin === undefined) {
      if (this.origins.size >= TOPIC_CACHE_LIMIT) this.origins.clear();
      origin = parseTelemetryTopic(topic, this.options.mqtt.topicPrefix) ?? null;
      this.origins.set(topic, origin);
    }
    return origin ?? undefined;
  }

  private onPuback(puback: { messageId?: number }): void {
    const ticket = this.current;
    this.current = undefined;
    if (ticket === undefined || ticket.messageId !== puback.messageId) return; // not ours to acknowledge
    this.acks.pubackReady(ticket, puback);
  }

  private readonly settleTicket = (ticket: AckTicket, ok: boolean): void => this.settle(ticket, ok);

  private settle(ticket: AckTicket, ok: boolean): void {
    if (ticket.connection !== this.connection) return; // its connection is gone; the broker redelivers it
    this.acks.settle(ticket, ok);
    if (!ok) this.requestRedelivery();
  }

  private releaseAck(ticket: AckTicket): void {
    if (ticket.connection !== this.connection || this.client?.connected !== true) return;
    this.hook!.send(ticket.puback);
  }

  /**
   * A message failed for good: it is never acknowledged. Replacing the connection makes the broker
   * redeliver it — once Kafka is reachable again, so that the redelivery has somewhere to go.
   */
  private requestRedelivery(): void {
    if (this.redeliveryWanted) return;
    this.redeliveryWanted = true;
    this.log.warn({ waiting: this.acks.waiting, state: this.options.flow.state }, 'a message failed in Kafka; the MQTT connection will be replaced so that the broker redelivers it');
    if (this.options.flow.state !== 'kafka-unavailable') this.reconnectForRedelivery();
  }

  private reconnectForRedelivery(): void {
    this.redeliveryWanted = false;
    if (this.stopping || this.client === undefined) return;
    this.options.metrics.mqttReconnects.labels('redelivery').inc();
    this.forcedClose = true;
    this.client.stream.destroy();
  }

  /** Also called after each failed connect attempt while the broker is away. */
  private onClose(): void {
    const wasSubscribed = this.subscribed;
    this.connection++;
    this.current = undefined;
    this.subscribed = false;
    this.hook?.dropHeld();
    const dropped = this.acks.clear();
    this.redeliveryWanted = false;
    this.options.metrics.mqttConnected.set(0);
    if (wasSubscribed && !this.stopping) {
      if (!this.forcedClose) this.options.metrics.mqttReconnects.labels('connection-lost').inc();
      this.log.warn({ unacknowledged: dropped, forced: this.forcedClose }, 'MQTT connection closed; unacknowledged messages will be redelivered');
    }
    this.forcedClose = false;
  }

  private onFlowChange(state: string): void {
    if (this.hook === undefined) return;
    if (state === 'accepting' && !this.stopping) this.hook.resume();
    else this.hook.pause();
    if (state !== 'kafka-unavailable' && this.redeliveryWanted) this.reconnectForRedelivery();
  }
}

/** QoS 0 messages have nothing to acknowledge. */
const IGNORE_OUTCOME = (): void => undefined;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
