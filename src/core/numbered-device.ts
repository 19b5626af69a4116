import { DeviceClockCache } from './device-clock.ts';
import type { Series } from './window-store.ts';

/**
 * One device of PartitionProcessor.processNumbered: the (tenant, device) its number stands for, its
 * head series as of store heads version `headsVersion` (undefined: look up), and its device-clock
 * lookup. One object per device, so that a reading reaches all of it with one cache miss.
 */
export class NumberedDevice extends DeviceClockCache {
  tenant = '';
  device = '';
  head: Series | undefined = undefined;
  headsVersion = -1;

  bind(tenant: string, device: string): void {
    this.tenant = tenant;
    this.device = device;
    this.head = undefined;
    this.headsVersion = -1;
    this.resetClockCache();
  }
}
