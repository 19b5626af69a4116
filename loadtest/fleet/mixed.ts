import { runFleet, type FleetResult, type PublisherOptions } from './publisher.ts';
import type { PayloadFormat } from './formats.ts';
import type { FleetSpec } from './model.ts';

/**
 * The main fleet and small fleets of other payload formats beside it (the demo's Sparkplug edge
 * node and Protobuf device), run at once against the same bridge and tenant, their results added
 * up as one fleet's for the audit. Each side fleet's devices are named `<format>-dev-…`.
 */
export interface SideFleet {
  readonly payload: PayloadFormat;
  readonly devices: number;
  readonly ratePerSecond: number;
}

export async function runMixedFleet(spec: FleetSpec, options: PublisherOptions, sides: readonly SideFleet[]): Promise<FleetResult> {
  const runs = [
    runFleet(spec, options),
    ...sides.map((side, index) =>
      runFleet(
        { ...spec, devices: side.devices, gateways: 1, ratePerSecond: side.ratePerSecond, seed: spec.seed + index + 1 },
        { ...options, payload: side.payload, devicePrefix: `${side.payload}-`, connections: 1, clientIdPrefix: `${options.clientIdPrefix ?? 'fleet'}-${side.payload}` },
      ),
    ),
  ];
  return mergeFleetResults(await Promise.all(runs));
}

export function mergeFleetResults(results: readonly FleetResult[]): FleetResult {
  const [main, ...rest] = results;
  if (main === undefined) throw new RangeError('no fleet to merge');
  const ackedIds = new Map(main.ackedIds);
  const ackedPerSecond = [...main.ackedPerSecond];
  let { published, acked, failed, messages, seconds, noSubscriberPubacks } = main;
  for (const result of rest) {
    for (const [device, ids] of result.ackedIds) ackedIds.set(device, [...(ackedIds.get(device) ?? []), ...ids]);
    result.ackedPerSecond.forEach((value, second) => (ackedPerSecond[second] = (ackedPerSecond[second] ?? 0) + value));
    published += result.published;
    acked += result.acked;
    failed += result.failed;
    messages += result.messages;
    seconds = Math.max(seconds, result.seconds);
    noSubscriberPubacks += result.noSubscriberPubacks;
  }
  // The acknowledgement latency stays the main fleet's: the side fleets are a few devices.
  return { ...main, published, acked, failed, messages, seconds, ackedIds, ackedPerSecond: Array.from(ackedPerSecond, (value) => value ?? 0), noSubscriberPubacks };
}
