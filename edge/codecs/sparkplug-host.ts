import { Counter, Gauge, type Registry } from 'prom-client';
import type { Packet } from 'mqtt-packet';
import { get as sparkplugNamespace } from 'sparkplug-payload';
import { SPARKPLUG_NAMESPACE, nodeCommandTopic } from '../../src/core/codecs/sparkplug-topic.ts';
import type { RebirthCause, SparkplugObserver, SparkplugState } from '../../src/core/codecs/sparkplug-state.ts';
import type { Logger } from '../../src/util/log.ts';

/**
 * The bridge's side of Sparkplug's host application duties: answering a `seq` gap or an unknown
 * alias with a rebirth request (NCMD `Node Control/Rebirth` = true on
 * `spBv1.0/<group>/NCMD/<node>`), and counting who is online.
 *
 * In direct mode the bridge is the node's MQTT server, so it can deliver the NCMD itself, but only
 * to a node that subscribed to it: this endpoint refuses every subscription except, for an account
 * that may publish for the node, exactly `spBv1.0/<group>/NCMD/<node>` (delivered at QoS 0). A
 * node that did not subscribe is counted as needing a rebirth (`delivered="false"`) and shown in
 * `tp_edge_sparkplug_edge_nodes{state="needs-rebirth"}` until it is born again.
 */
const spB = sparkplugNamespace('spBv1.0')!;

/** A subscriber of rebirth requests: the direct endpoint's connection (write and isOpen only). */
export interface CommandSubscriber {
  readonly isOpen: boolean;
  write(packet: Packet): void;
}

export interface SparkplugHostMetrics {
  readonly rebirths: Counter<'cause' | 'delivered'>;
  readonly gaps: Counter;
}

export class SparkplugHost implements SparkplugObserver {
  private readonly subscribers = new Map<string, Set<CommandSubscriber>>();
  private readonly metrics: SparkplugHostMetrics;
  private devicesOnline = 0;
  private devicesOffline = 0;

  constructor(
    registry: Registry,
    private readonly logger: Logger,
    private readonly now: () => number,
    /** Set once the state exists (the state tells this host what happens). */
    private readonly state: () => SparkplugState,
  ) {
    const registers = [registry];
    new Gauge({
      name: 'tp_edge_sparkplug_edge_nodes',
      help: "Sparkplug edge nodes this bridge knows from their BIRTH (or a DATA without one), by state: 'online', 'offline' (NDEATH), 'needs-rebirth' (a rebirth was asked for and no NBIRTH came yet)",
      labelNames: ['state'],
      registers,
      collect: () => {
        const summary = this.state().summary();
        nodes.labels('online').set(summary.online);
        nodes.labels('offline').set(summary.offline);
        nodes.labels('needs-rebirth').set(summary.needsRebirth);
      },
    });
    const nodes = registry.getSingleMetric('tp_edge_sparkplug_edge_nodes') as Gauge<'state'>;
    new Gauge({
      name: 'tp_edge_sparkplug_devices',
      help: "Sparkplug devices behind edge nodes, by state: 'online' (DBIRTH) or 'offline' (DDEATH, or their node's NDEATH)",
      labelNames: ['state'],
      registers,
      collect: () => {
        devices.labels('online').set(this.devicesOnline);
        devices.labels('offline').set(this.devicesOffline);
      },
    });
    const devices = registry.getSingleMetric('tp_edge_sparkplug_devices') as Gauge<'state'>;
    this.metrics = {
      rebirths: new Counter({
        name: 'tp_edge_sparkplug_rebirth_requests_total',
        help: "Rebirth requests, by cause ('seq-gap', 'unknown-alias', 'no-birth') and whether the NCMD reached a subscribed node ('true') or the node did not subscribe to it ('false')",
        labelNames: ['cause', 'delivered'],
        registers,
      }),
      gaps: new Counter({ name: 'tp_edge_sparkplug_seq_gaps_total', help: "Sparkplug messages whose 'seq' did not follow the node's last one", registers }),
    };
  }

  /** Whether `filter` is a node's own NCMD topic that an account of `tenant` / `device` may read. */
  static mayRead(filter: string, tenant: string, device: string): boolean {
    const levels = filter.split('/');
    return levels.length === 4 && levels[0] === SPARKPLUG_NAMESPACE && levels[1] === tenant && levels[2] === 'NCMD' && (device === '*' ? /^[A-Za-z0-9_-]{1,64}$/.test(levels[3]!) : levels[3] === device);
  }

  subscribe(filter: string, subscriber: CommandSubscriber): void {
    let set = this.subscribers.get(filter);
    if (set === undefined) this.subscribers.set(filter, (set = new Set()));
    set.add(subscriber);
  }

  unsubscribe(filter: string, subscriber: CommandSubscriber): boolean {
    return this.subscribers.get(filter)?.delete(subscriber) ?? false;
  }

  rebirthNeeded(group: string, node: string, cause: RebirthCause): void {
    const topic = nodeCommandTopic(group, node);
    const payload = Buffer.from(spB.encodePayload({ timestamp: this.now(), metrics: [{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }] }));
    let delivered = false;
    const set = this.subscribers.get(topic);
    for (const subscriber of set ?? []) {
      if (!subscriber.isOpen) {
        set!.delete(subscriber);
        continue;
      }
      subscriber.write({ cmd: 'publish', topic, payload, qos: 0, retain: false, dup: false });
      delivered = true;
    }
    this.metrics.rebirths.labels(cause, String(delivered)).inc();
    this.logger.info({ group, node, cause, delivered }, 'Sparkplug rebirth requested');
  }

  sequenceGap(group: string, node: string, expected: number, received: number): void {
    this.metrics.gaps.inc();
    this.logger.warn({ group, node, expected, received }, 'Sparkplug seq gap');
  }

  presence(_group: string, _node: string, device: string | null, online: boolean): void {
    if (device === null) return;
    if (online) this.devicesOnline++;
    else {
      this.devicesOnline = Math.max(0, this.devicesOnline - 1);
      this.devicesOffline++;
    }
  }
}
