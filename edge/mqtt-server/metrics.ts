import { Counter, Gauge, type Registry } from 'prom-client';

/**
 * Metrics of the direct MQTT endpoint, on the bridge's registry (prefix `tp_edge_mqtt_direct_`).
 * Nothing here is touched per message except a refusal, which is rare by design.
 */
export interface DirectMetrics {
  readonly connects: Counter<'outcome'>;
  readonly refusals: Counter<'reason_code' | 'packet'>;
  readonly disconnects: Counter<'cause'>;
  readonly credentialReloads: Counter<'outcome'>;
  readonly wills: Counter<'event'>;
}

export interface DirectGauges {
  connections(): number;
  /** Unacknowledged QoS 1/2 messages of each open connection. */
  inFlight(): Iterable<number>;
  /** Wills waiting for their Will Delay Interval. */
  pendingWills(): number;
}

export function createDirectMetrics(registry: Registry, gauges: DirectGauges): DirectMetrics {
  const registers = [registry];
  new Gauge({
    name: 'tp_edge_mqtt_direct_connections',
    help: 'Device connections open on this bridge (direct mode), authenticated or not yet',
    registers,
    collect() {
      this.set(gauges.connections());
    },
  });
  new Gauge({
    name: 'tp_edge_mqtt_direct_in_flight_messages',
    help: "Unacknowledged QoS 1/2 messages per connection (waiting for Kafka, or for PUBREL): stat 'sum' over all connections, 'max' of the fullest one",
    labelNames: ['stat'],
    registers,
    collect() {
      let sum = 0;
      let max = 0;
      for (const value of gauges.inFlight()) {
        sum += value;
        if (value > max) max = value;
      }
      this.labels('sum').set(sum);
      this.labels('max').set(max);
    },
  });
  new Gauge({
    name: 'tp_edge_mqtt_direct_wills_pending',
    help: 'Will messages of ended connections waiting for their MQTT 5 Will Delay Interval (a reconnect of the client id may still cancel them)',
    registers,
    collect() {
      this.set(gauges.pendingWills());
    },
  });
  const metrics: DirectMetrics = {
    connects: new Counter({
      name: 'tp_edge_mqtt_direct_connects_total',
      help: "CONNECTs answered, by outcome ('accepted', 'bad-credentials', 'quota-exceeded', 'bad-client-id', 'unsupported-protocol', 'will-refused', 'client-id-in-use' (the client id is held by another identity), 'taken-over')",
      labelNames: ['outcome'],
      registers,
    }),
    refusals: new Counter({
      name: 'tp_edge_mqtt_direct_refusals_total',
      help: 'Packets refused with an MQTT 5 reason code (MQTT 3.1.1 clients get the documented equivalent), by code and packet type',
      labelNames: ['reason_code', 'packet'],
      registers,
    }),
    disconnects: new Counter({
      name: 'tp_edge_mqtt_direct_disconnects_total',
      help: 'Device connections closed, by cause',
      labelNames: ['cause'],
      registers,
    }),
    credentialReloads: new Counter({
      name: 'tp_edge_mqtt_direct_credential_reloads_total',
      help: "Reloads of mqtt.credentialsFile after it changed: 'ok', or 'invalid' (the previous accounts stay)",
      labelNames: ['outcome'],
      registers,
    }),
    wills: new Counter({
      name: 'tp_edge_mqtt_direct_wills_total',
      help:
        "Will messages by event: 'received' (with an accepted CONNECT), 'refused' (the CONNECT refused for its will), and what became of a received one: 'discarded' (DISCONNECT 0x00), 'cancelled' (the client id reconnected and the session continued), 'published' (its readings in Kafka), 'dead-lettered' (refused, its dead letter in Kafka), 'no-records' (nothing to write, e.g. a Sparkplug NDEATH: the node went offline), 'failed' (Kafka did not take it)",
      labelNames: ['event'],
      registers,
    }),
  };
  return metrics;
}
