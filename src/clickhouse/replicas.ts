import type { Logger } from '../util/log.ts';
import type { ServerCapabilities } from './capabilities.ts';
import type { ClickHouseConnection, InsertOptions, RequestOptions } from './client.ts';
import { ClickHouseError } from './errors.ts';

/**
 * The replicas of one ClickHouse shard (clickhouse.url plus clickhouse.replicaUrls) behind the
 * one ClickHouseConnection interface. Requests go to the replica in use; when it does not answer,
 * the same request goes to the next replica, at most once to each (bounded: one pass over the
 * replicas, each attempt with its own timeout), and the replica that answered stays in use. Every
 * switch is logged and reported to `onFailover` (count it in a metric).
 *
 * What may move to another replica:
 * - ping and query: anything retriable (read-only).
 * - insert: anything retriable, even with an unknown outcome: on Replicated*MergeTree tables the
 *   block hashes of recent inserts live in ZooKeeper, so an identical block that did land on the
 *   first replica is dropped by the second. Replication then copies rows to every replica.
 * - command (DDL, ALTER): only when it provably never reached the server (outcome 'not-sent').
 * - nothing with a sessionId: temporary tables live on one server, so such a request stays on the
 *   replica in use and its error reaches the caller.
 */
export interface FailoverEvent {
  readonly operation: 'ping' | 'query' | 'command' | 'insert';
  readonly from: string;
  readonly to: string;
  /** Why the replica in use was left. */
  readonly error: ClickHouseError;
}

export interface ReplicaSetHooks {
  readonly logger?: Logger;
  readonly onFailover?: (event: FailoverEvent) => void;
}

type Operation = FailoverEvent['operation'];

export function movesToAnotherReplica(operation: Operation, error: unknown): error is ClickHouseError {
  if (!(error instanceof ClickHouseError) || !error.retriable) return false;
  return operation === 'command' ? error.outcome === 'not-sent' : true;
}

export class ReplicaSetConnection implements ClickHouseConnection {
  private active: number;
  private switches = 0;

  constructor(
    readonly replicas: readonly ClickHouseConnection[],
    readonly capabilities: ServerCapabilities,
    private readonly hooks: ReplicaSetHooks = {},
    firstActive = 0,
  ) {
    if (replicas.length === 0) throw new RangeError('a replica set needs at least one connection');
    this.active = firstActive;
  }

  /** The replica in use. */
  get url(): string {
    return this.replicas[this.active]!.url;
  }

  /** How many times the replica in use changed because one did not answer. */
  get failovers(): number {
    return this.switches;
  }

  ping(options: RequestOptions = {}): Promise<void> {
    return this.run('ping', options, (replica) => replica.ping(options));
  }

  query<Row = Record<string, unknown>>(sql: string, options: RequestOptions = {}): Promise<Row[]> {
    return this.run('query', options, (replica) => replica.query<Row>(sql, options));
  }

  command(sql: string, options: RequestOptions = {}): Promise<void> {
    return this.run('command', options, (replica) => replica.command(sql, options));
  }

  insert(target: string, columns: readonly string[], body: Buffer | string, options: InsertOptions = {}): Promise<void> {
    return this.run('insert', options, (replica) => replica.insert(target, columns, body, options));
  }

  async close(): Promise<void> {
    await Promise.all(this.replicas.map((replica) => replica.close()));
  }

  private async run<T>(operation: Operation, options: RequestOptions, call: (replica: ClickHouseConnection) => Promise<T>): Promise<T> {
    const first = this.active;
    if (options.sessionId !== undefined) return call(this.replicas[first]!);
    let lastError: unknown;
    for (let step = 0; step < this.replicas.length; step++) {
      const index = (first + step) % this.replicas.length;
      const replica = this.replicas[index]!;
      try {
        const result = await call(replica);
        if (step > 0) this.switchTo(index, operation, lastError as ClickHouseError);
        return result;
      } catch (error) {
        if (!movesToAnotherReplica(operation, error) || options.signal?.aborted) throw error;
        lastError = error;
      }
    }
    throw lastError;
  }

  private switchTo(index: number, operation: Operation, error: ClickHouseError): void {
    if (index === this.active) return; // a concurrent request switched already
    const event: FailoverEvent = { operation, from: this.url, to: this.replicas[index]!.url, error };
    this.active = index;
    this.switches++;
    this.hooks.logger?.warn(
      { operation, from: event.from, to: event.to, code: error.code, outcome: error.outcome, err: error.message },
      'ClickHouse replica did not answer; using another replica',
    );
    this.hooks.onFailover?.(event);
  }
}

/** The servers behind a connection: each replica of a ReplicaSetConnection, or the connection itself. */
export function replicasOf(connection: ClickHouseConnection): readonly ClickHouseConnection[] {
  return connection instanceof ReplicaSetConnection ? connection.replicas : [connection];
}
