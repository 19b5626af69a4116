import type { Registry } from 'prom-client';
import { errorMessage } from '../core/errors.ts';
import type { Logger } from '../util/log.ts';
import type { GroupMembersReader } from './group-members.ts';
import { StatusHistory } from './history.ts';
import type { StatusData } from './model.ts';
import type { BridgeScrape, GroupMembers, Observation, RunnerSnapshot } from './observation.ts';
import { parsePrometheusText } from './prom-text.ts';
import { samplesFromRegistry, type Sample } from './samples.ts';
import { buildStatus, type StatusSettings } from './view.ts';

/**
 * Gathers what GET /status/data answers, on demand: the aggregator's registry, each bridge's
 * /metrics over HTTP, the runners' states and the consumer groups' members. Polling stays cheap
 * whoever watches: an answer is reused for `cacheMs`, concurrent requests share one collection, the
 * groups are described at most every `groupsRefreshMs`, and each bridge gets `bridgeTimeoutMs`.
 * A source that fails shows on the page with its error; the log says when it goes down or comes back.
 */
export interface StatusCollectorOptions {
  readonly registry: Registry;
  /** Where the aggregator's samples come from instead of `registry` (a supervisor: its workers' merged /metrics). */
  readonly samples?: () => Promise<Sample[]>;
  /** The runners' `status()` records (pipeline, tier, state, partitions, error). */
  readonly runners: () => readonly Record<string, unknown>[];
  readonly bridges: readonly string[];
  readonly settings: StatusSettings;
  readonly groups: GroupMembersReader | null;
  readonly logger: Logger;
  readonly now?: () => number;
  readonly cacheMs?: number;
  readonly bridgeTimeoutMs?: number;
  readonly groupsRefreshMs?: number;
  readonly historyPoints?: number;
}

export class StatusCollector {
  private readonly history: StatusHistory;
  private readonly now: () => number;
  private cached: { at: number; data: StatusData } | null = null;
  private inFlight: Promise<StatusData> | null = null;
  private groups: { at: number; members: GroupMembers[] | null; error: string | null } | null = null;
  private readonly failing = new Map<string, string>();

  constructor(private readonly options: StatusCollectorOptions) {
    this.now = options.now ?? Date.now;
    this.history = new StatusHistory({ maxPoints: options.historyPoints ?? 300, p95WindowMs: options.settings.p95WindowMs });
  }

  data(): Promise<StatusData> {
    const cached = this.cached;
    if (cached && this.now() - cached.at < (this.options.cacheMs ?? 1000)) return Promise.resolve(cached.data);
    this.inFlight ??= this.collect().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  async close(): Promise<void> {
    await this.options.groups?.close();
  }

  private async collect(): Promise<StatusData> {
    const [aggregator, bridges, groups] = await Promise.all([
      this.options.samples ? this.options.samples() : this.options.registry.getMetricsAsJSON().then(samplesFromRegistry),
      Promise.all(this.options.bridges.map((url) => this.scrape(url))),
      this.groupMembers(),
    ]);
    const observation: Observation = {
      at: this.now(),
      aggregator,
      bridges,
      runners: this.options.runners().map(runnerSnapshot),
      groups: groups.members,
      groupsError: groups.error,
    };
    this.history.record(observation);
    const data = buildStatus(observation, this.history, this.options.settings);
    this.cached = { at: observation.at, data };
    return data;
  }

  private async scrape(baseUrl: string): Promise<BridgeScrape> {
    const url = `${baseUrl.replace(/\/+$/, '')}/metrics`;
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(this.options.bridgeTimeoutMs ?? 800) });
      if (!response.ok) throw new Error(`GET ${url} answered ${response.status}`);
      const samples = parsePrometheusText(await response.text());
      this.recovered(baseUrl);
      return { url: baseUrl, samples, error: null };
    } catch (error) {
      // fetch() says only "fetch failed"; the reason (ECONNREFUSED, a timeout) is its cause.
      const cause = error instanceof Error && error.cause !== undefined ? ` (${errorMessage(error.cause)})` : '';
      const message = `GET ${url}: ${errorMessage(error)}${cause}`;
      this.failed(baseUrl, message, error);
      return { url: baseUrl, samples: null, error: message };
    }
  }

  private async groupMembers(): Promise<{ members: GroupMembers[] | null; error: string | null }> {
    const reader = this.options.groups;
    if (!reader) return { members: null, error: null };
    const known = this.groups;
    if (known && this.now() - known.at < (this.options.groupsRefreshMs ?? 5000)) return known;
    try {
      const members = await reader.read();
      this.recovered('consumer groups');
      this.groups = { at: this.now(), members, error: null };
    } catch (error) {
      this.failed('consumer groups', errorMessage(error), error);
      this.groups = { at: this.now(), members: null, error: errorMessage(error) };
    }
    return this.groups;
  }

  private failed(source: string, message: string, error: unknown): void {
    if (this.failing.get(source) !== message) this.options.logger.warn({ source, err: error }, `status page: ${message}`);
    this.failing.set(source, message);
  }

  private recovered(source: string): void {
    if (this.failing.delete(source)) this.options.logger.info({ source }, 'status page: source answers again');
  }
}

/** A runner's `status()` record, read field by field (it is typed as a plain record). */
export function runnerSnapshot(status: Record<string, unknown>): RunnerSnapshot {
  const partitions = Array.isArray(status['partitions']) ? status['partitions'].filter((entry): entry is number => typeof entry === 'number') : [];
  return {
    pipeline: String(status['pipeline'] ?? ''),
    tier: String(status['tier'] ?? ''),
    state: String(status['state'] ?? ''),
    partitions,
    error: typeof status['error'] === 'string' ? status['error'] : null,
  };
}
