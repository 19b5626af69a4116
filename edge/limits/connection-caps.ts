/**
 * Connection caps of one listener, pure: the total it accepts and what one source address may
 * hold. The listener asks open() for each new connection and calls close() when that connection
 * ends; a refused connection is closed at once by the caller and never counted as open.
 */
export interface ConnectionCapLimits {
  readonly maxConnections: number;
  readonly maxConnectionsPerSource: number;
}

export type ConnectionRefusal = 'connection-cap' | 'source-connection-cap';

export class ConnectionCaps {
  private total = 0;
  private readonly perSource = new Map<string, number>();

  constructor(private readonly limits: ConnectionCapLimits) {
    if (!(limits.maxConnections >= 1) || !(limits.maxConnectionsPerSource >= 1)) {
      throw new RangeError(`connection caps must be at least 1, got ${limits.maxConnections} and ${limits.maxConnectionsPerSource}`);
    }
  }

  /** undefined: admitted (and counted as open); otherwise why it is refused. */
  open(source: string): ConnectionRefusal | undefined {
    if (this.total >= this.limits.maxConnections) return 'connection-cap';
    const held = this.perSource.get(source) ?? 0;
    if (held >= this.limits.maxConnectionsPerSource) return 'source-connection-cap';
    this.total++;
    this.perSource.set(source, held + 1);
    return undefined;
  }

  /** An admitted connection of `source` ended. Closing one that is not open is a caller's bug. */
  close(source: string): void {
    const held = this.perSource.get(source);
    if (held === undefined) throw new Error(`ConnectionCaps.close: no open connection of ${source}`);
    if (held === 1) this.perSource.delete(source);
    else this.perSource.set(source, held - 1);
    this.total--;
  }

  get openConnections(): number {
    return this.total;
  }

  heldBy(source: string): number {
    return this.perSource.get(source) ?? 0;
  }
}
