/**
 * What a bridge remembers of each Sparkplug edge node, from its BIRTH and DEATH messages: the
 * metric aliases of the node and of each of its devices, the birth-death sequence number, the
 * last `seq`, who is online, and whether a rebirth was asked for. In memory, per bridge: after a
 * restart (or on another bridge) a node is unknown until it is born again, and its first DATA
 * asks for that rebirth. Pure: no I/O, no clock; what happens is told to an observer.
 */

export type RebirthCause = 'seq-gap' | 'unknown-alias' | 'no-birth';

export interface SparkplugObserver {
  /** A rebirth should be sent to the node (once per cause until it is born again). */
  rebirthNeeded(group: string, node: string, cause: RebirthCause): void;
  /** A `seq` that does not follow the last one: counted, and answered with a rebirth request. */
  sequenceGap(group: string, node: string, expected: number, received: number): void;
  /** A node (device null) or a device came online (BIRTH) or went offline (DEATH). */
  presence(group: string, node: string, device: string | null, online: boolean): void;
}

export interface MetricDefinition {
  readonly name: string;
  readonly type: string;
}

export interface DeviceState {
  readonly aliases: Map<string, MetricDefinition>;
  online: boolean;
}

export interface NodeState {
  bdSeq: number | null;
  lastSeq: number | null;
  readonly aliases: Map<string, MetricDefinition>;
  readonly devices: Map<string, DeviceState>;
  online: boolean;
  /** True from a rebirth request until the next NBIRTH: the request is not repeated meanwhile. */
  needsRebirth: boolean;
}

export const NO_OBSERVER: SparkplugObserver = { rebirthNeeded: () => undefined, sequenceGap: () => undefined, presence: () => undefined };

export class SparkplugState {
  private readonly nodes = new Map<string, NodeState>();

  constructor(private readonly observer: SparkplugObserver = NO_OBSERVER) {}

  node(group: string, node: string): NodeState | undefined {
    return this.nodes.get(key(group, node));
  }

  /** NBIRTH: a new session of the node; every device must be born again after it. */
  born(group: string, node: string, bdSeq: number | null, seq: number | null, aliases: Map<string, MetricDefinition>): void {
    const previous = this.nodes.get(key(group, node));
    if (previous !== undefined) for (const [device, state] of previous.devices) if (state.online) this.observer.presence(group, node, device, false);
    this.nodes.set(key(group, node), { bdSeq, lastSeq: seq, aliases, devices: new Map(), online: true, needsRebirth: false });
    this.observer.presence(group, node, null, true);
  }

  deviceBorn(group: string, node: string, device: string, aliases: Map<string, MetricDefinition>): void {
    const state = this.nodes.get(key(group, node));
    if (state === undefined) return;
    state.devices.set(device, { aliases, online: true });
    this.observer.presence(group, node, device, true);
  }

  /**
   * NDEATH: the node and its devices are offline. A death whose bdSeq is not the current birth's
   * is an old session's will message arriving late: ignored (Sparkplug 3.0 §7.1).
   */
  died(group: string, node: string, bdSeq: number | null): boolean {
    const state = this.nodes.get(key(group, node));
    if (state === undefined || !state.online) return false;
    if (bdSeq !== null && state.bdSeq !== null && bdSeq !== state.bdSeq) return false;
    state.online = false;
    for (const [device, deviceState] of state.devices) {
      if (!deviceState.online) continue;
      deviceState.online = false;
      this.observer.presence(group, node, device, false);
    }
    this.observer.presence(group, node, null, false);
    return true;
  }

  deviceDied(group: string, node: string, device: string): void {
    const deviceState = this.nodes.get(key(group, node))?.devices.get(device);
    if (deviceState === undefined || !deviceState.online) return;
    deviceState.online = false;
    this.observer.presence(group, node, device, false);
  }

  /**
   * A `seq` of a message after NBIRTH (0–255, wrapping). The same seq as the last one is a
   * redelivery, not a gap; anything else but last + 1 is a gap. Returns false on a gap.
   */
  sequence(group: string, node: string, seq: number): boolean {
    const state = this.nodes.get(key(group, node));
    if (state === undefined) return true;
    const last = state.lastSeq;
    state.lastSeq = seq;
    if (last === null || seq === last || seq === (last + 1) % 256) return true;
    this.observer.sequenceGap(group, node, (last + 1) % 256, seq);
    this.requestRebirth(group, node, 'seq-gap');
    return false;
  }

  /** Asks for a rebirth unless one is already outstanding for this node. */
  requestRebirth(group: string, node: string, cause: RebirthCause): void {
    const state = this.nodes.get(key(group, node));
    if (state === undefined) {
      // Unknown node: remembered as needing a rebirth, so that its next DATA does not ask again.
      this.nodes.set(key(group, node), { bdSeq: null, lastSeq: null, aliases: new Map(), devices: new Map(), online: true, needsRebirth: true });
      this.observer.rebirthNeeded(group, node, cause);
      return;
    }
    if (state.needsRebirth) return;
    state.needsRebirth = true;
    this.observer.rebirthNeeded(group, node, cause);
  }

  /** Nodes known to this bridge and how many are online, offline and waiting for a rebirth. */
  summary(): { online: number; offline: number; needsRebirth: number } {
    let online = 0;
    let offline = 0;
    let needsRebirth = 0;
    for (const state of this.nodes.values()) {
      if (state.online) online++;
      else offline++;
      if (state.needsRebirth) needsRebirth++;
    }
    return { online, offline, needsRebirth };
  }
}

function key(group: string, node: string): string {
  return `${group}/${node}`;
}
