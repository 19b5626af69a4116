import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  createClient,
  drainStream,
  ClickHouseLogLevel,
  type ClickHouseClient,
  type ClickHouseSettings,
  type ErrorLogParams,
  type LogParams,
  type WarnLogParams,
} from '@clickhouse/client';
import type { ClickHouseConfig } from '../config/schema.ts';
import { PipelineError } from '../core/errors.ts';
import type { Logger } from '../util/log.ts';
import {
  PROBED_MERGE_TREE_SETTINGS,
  PROBED_QUERY_SETTINGS,
  capabilitiesFrom,
  type ServerCapabilities,
} from './capabilities.ts';
import { ClickHouseError, ClickHouseUnavailableError, classifyClickHouseFailure, type FailureContext } from './errors.ts';
import { ReplicaSetConnection, type FailoverEvent } from './replicas.ts';
import { sqlIdentifier, sqlList, sqlString } from './sql.ts';

/**
 * A thin connection to one ClickHouse server over HTTP, in the spirit of clickhouse-js
 * `Connection`: ping, query, insert, command, close. Everything it throws is a ClickHouseError
 * (see errors.ts). SQL arrives fully formed (values inlined with sql.ts: 18.16 has no query
 * parameters); rows go in as JSONEachRow or TabSeparated (both read by 18.16), query results come
 * back as JSONEachRow.
 */
export type SettingValue = string | number;

/** Formats an insert body may be in; the caller builds the bytes. */
export type InsertFormat = 'JSONEachRow' | 'TabSeparated';

export interface RequestOptions {
  /** Per-request timeout; defaults to clickhouse.requestTimeoutMs. */
  readonly timeoutMs?: number;
  /** Aborts the request (shutdown); the error is CLICKHOUSE_ABORTED. */
  readonly signal?: AbortSignal;
  /** Server settings for this request only. Check their names against 18.16 before using one. */
  readonly settings?: Readonly<Record<string, SettingValue>>;
  /** Requests sharing a session id see the same temporary tables (one request at a time). */
  readonly sessionId?: string;
  readonly queryId?: string;
}

export interface InsertOptions extends RequestOptions {
  /** The body's format; JSONEachRow when not given. */
  readonly format?: InsertFormat;
}

export interface ClickHouseConnection {
  readonly url: string;
  readonly capabilities: ServerCapabilities;
  ping(options?: RequestOptions): Promise<void>;
  /** A SELECT; rows are parsed from JSONEachRow (64-bit integers arrive as strings). */
  query<Row = Record<string, unknown>>(sql: string, options?: RequestOptions): Promise<Row[]>;
  /** DDL, ALTER, or anything else that returns no rows. */
  command(sql: string, options?: RequestOptions): Promise<void>;
  /**
   * `INSERT INTO <target> (<columns>) FORMAT <options.format>` with `body` sent verbatim, so that
   * the caller controls the bytes (same rows → same bytes). `target` is a formatted table name
   * (sqlTable or sqlIdentifier).
   */
  insert(target: string, columns: readonly string[], body: Buffer | string, options?: InsertOptions): Promise<void>;
  close(): Promise<void>;
}

export interface ConnectOptions {
  readonly logger?: Logger;
  /** Connections in the client's socket pool. */
  readonly maxOpenConnections?: number;
  /** With clickhouse.replicaUrls: called each time requests move to another replica (count it in a metric). */
  readonly onFailover?: (event: FailoverEvent) => void;
}

const STATEMENT_PREVIEW_CHARS = 200;

class HttpClickHouseConnection implements ClickHouseConnection {
  private state: 'open' | 'closed' = 'open';
  capabilities: ServerCapabilities;

  constructor(
    readonly url: string,
    private readonly client: ClickHouseClient,
    private readonly defaultTimeoutMs: number,
    capabilities: ServerCapabilities,
  ) {
    this.capabilities = capabilities;
  }

  async ping(options: RequestOptions = {}): Promise<void> {
    await this.request('ping', options, undefined, undefined, async (abortSignal) => {
      const result = await this.client.ping({ select: false, abort_signal: abortSignal });
      if (!result.success) throw result.error;
    });
  }

  async query<Row>(sql: string, options: RequestOptions = {}): Promise<Row[]> {
    return this.request('query', options, sql, undefined, async (abortSignal, queryId) => {
      const resultSet = await this.client.query({
        query: sql,
        format: 'JSONEachRow',
        ...this.requestParams(options, abortSignal, queryId),
      });
      return resultSet.json<Row>();
    });
  }

  async command(sql: string, options: RequestOptions = {}): Promise<void> {
    await this.request('command', options, sql, undefined, async (abortSignal, queryId) => {
      await this.client.command({ query: sql, ...this.requestParams(options, abortSignal, queryId) });
    });
  }

  async insert(target: string, columns: readonly string[], body: Buffer | string, options: InsertOptions = {}): Promise<void> {
    await this.request('insert', options, undefined, target, async (abortSignal, queryId) => {
      // exec, not client.insert: insert() would JSON-encode each stream chunk as a row object,
      // while exec sends the pre-encoded bytes untouched.
      const result = await this.client.exec({
        query: `INSERT INTO ${target} (${columns.map(sqlIdentifier).join(', ')}) FORMAT ${options.format ?? 'JSONEachRow'}`,
        values: Readable.from([typeof body === 'string' ? Buffer.from(body, 'utf8') : body], { objectMode: false }),
        ...this.requestParams(options, abortSignal, queryId),
      });
      await drainStream(result.stream);
    });
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    await this.client.close();
  }

  private requestParams(options: RequestOptions, abortSignal: AbortSignal, queryId: string) {
    return {
      abort_signal: abortSignal,
      query_id: queryId,
      ...(options.sessionId === undefined ? {} : { session_id: options.sessionId }),
      ...(options.settings === undefined ? {} : { clickhouse_settings: options.settings as ClickHouseSettings }),
    };
  }

  /** Runs one request with its own timeout and maps every failure to a ClickHouseError. */
  private async request<T>(
    operation: FailureContext['operation'],
    options: RequestOptions,
    sql: string | undefined,
    target: string | undefined,
    run: (abortSignal: AbortSignal, queryId: string) => Promise<T>,
  ): Promise<T> {
    if (this.state !== 'open') {
      throw new PipelineError('CLICKHOUSE_CLOSED', `ClickHouse connection to ${this.url} is closed; ${operation} refused`, {
        context: { url: this.url, operation },
      });
    }
    const timeoutMs = options.timeoutMs ?? this.defaultTimeoutMs;
    const queryId = options.queryId ?? randomUUID();
    const controller = new AbortController();
    let abortReason: FailureContext['abortReason'];
    const timer = setTimeout(() => {
      abortReason = 'timeout';
      controller.abort();
    }, timeoutMs);
    const onCallerAbort = (): void => {
      abortReason ??= 'caller';
      controller.abort();
    };
    if (options.signal?.aborted) onCallerAbort();
    else options.signal?.addEventListener('abort', onCallerAbort, { once: true });
    try {
      return await run(controller.signal, queryId);
    } catch (error) {
      throw classifyClickHouseFailure(error, {
        operation,
        url: this.url,
        queryId,
        timeoutMs,
        ...(target === undefined ? {} : { target }),
        ...(sql === undefined ? {} : { statement: sql.slice(0, STATEMENT_PREVIEW_CHARS) }),
        ...(abortReason === undefined ? {} : { abortReason }),
      });
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onCallerAbort);
    }
  }
}

/**
 * Opens a connection and detects the server's capabilities. Fails with CLICKHOUSE_UNAVAILABLE
 * (naming the URL) when the server does not answer. With clickhouse.replicaUrls, the connection
 * spans every replica (see replicas.ts) and fails only when none of them answers.
 */
export async function connectClickHouse(config: ClickHouseConfig, options: ConnectOptions = {}): Promise<ClickHouseConnection> {
  if (config.replicaUrls.length > 0) return connectReplicaSet(config, options);
  const connection = openConnection(config, config.url, options);
  try {
    await connection.ping();
    connection.capabilities = await detectCapabilities(connection);
  } catch (error) {
    await connection.close();
    throw error;
  }
  options.logger?.info({ url: config.url, capabilities: connection.capabilities }, 'connected to ClickHouse');
  return connection;
}

function openConnection(config: ClickHouseConfig, url: string, options: ConnectOptions): HttpClickHouseConnection {
  const client = createClient({
    url,
    username: config.username,
    password: config.password,
    // Our own per-request timer (see request()) fires first and classifies the timeout; this is a backstop.
    request_timeout: config.requestTimeoutMs + 1000,
    max_open_connections: options.maxOpenConnections ?? 10,
    log: { LoggerClass: loggerBridge(options.logger), level: ClickHouseLogLevel.WARN },
  });
  const placeholder = capabilitiesFrom('0.0', new Set(), new Set());
  return new HttpClickHouseConnection(url, client, config.requestTimeoutMs, placeholder);
}

/** Starts with the first replica that answers; the others are tried when it stops answering. */
async function connectReplicaSet(config: ClickHouseConfig, options: ConnectOptions): Promise<ReplicaSetConnection> {
  const replicas = [config.url, ...config.replicaUrls].map((url) => openConnection(config, url, options));
  const failures: string[] = [];
  for (const [index, replica] of replicas.entries()) {
    try {
      await replica.ping();
      const capabilities = await detectCapabilities(replica);
      for (const peer of replicas) peer.capabilities = capabilities;
      const hooks = { ...(options.logger ? { logger: options.logger } : {}), ...(options.onFailover ? { onFailover: options.onFailover } : {}) };
      const connection = new ReplicaSetConnection(replicas, capabilities, hooks, index);
      options.logger?.info({ url: replica.url, replicas: replicas.map((peer) => peer.url), unanswered: failures, capabilities }, 'connected to ClickHouse replicas');
      return connection;
    } catch (error) {
      if (!(error instanceof ClickHouseError) || !error.retriable) {
        await Promise.all(replicas.map((peer) => peer.close()));
        throw error;
      }
      failures.push(error.message);
    }
  }
  await Promise.all(replicas.map((peer) => peer.close()));
  throw new ClickHouseUnavailableError(`none of the ClickHouse replicas answered: ${failures.join('; ')}`, {
    outcome: 'not-sent',
    context: { urls: replicas.map((peer) => peer.url).join(',') },
  });
}

/** Asks the server for its version and for the settings that gate newer features. */
export async function detectCapabilities(connection: ClickHouseConnection): Promise<ServerCapabilities> {
  const [versionRow] = await connection.query<{ version: string }>('SELECT version() AS version');
  const querySettings = await settingNames(connection, 'system.settings', PROBED_QUERY_SETTINGS);
  const mergeTreeSettings = await settingNames(connection, 'system.merge_tree_settings', PROBED_MERGE_TREE_SETTINGS);
  return capabilitiesFrom(versionRow?.version ?? '0.0', querySettings, mergeTreeSettings);
}

async function settingNames(connection: ClickHouseConnection, table: string, names: readonly string[]): Promise<Set<string>> {
  const rows = await connection.query<{ name: string }>(
    `SELECT name FROM ${table} WHERE name IN ${sqlList(names.map(sqlString))}`,
  );
  return new Set(rows.map((row) => row.name));
}

/**
 * Routes the client's own log lines into our logger. Its request errors are thrown to us and
 * handled (classified, retried, logged) by the caller, so they are only debug lines here.
 */
function loggerBridge(logger: Logger | undefined) {
  return class ClickHouseClientLogger {
    trace(params: LogParams): void {
      logger?.trace({ module: params.module, ...params.args }, params.message);
    }
    debug(params: LogParams): void {
      logger?.debug({ module: params.module, ...params.args }, params.message);
    }
    info(params: LogParams): void {
      logger?.info({ module: params.module, ...params.args }, params.message);
    }
    warn(params: WarnLogParams): void {
      logger?.warn({ module: params.module, ...params.args, err: params.err }, params.message);
    }
    error(params: ErrorLogParams): void {
      logger?.debug({ module: params.module, ...params.args, err: params.err?.message }, params.message);
    }
  };
}
