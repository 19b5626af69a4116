import type { Registry } from 'prom-client';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../util/log.ts';
import { StatusCollector } from './collector.ts';
import { GroupMembersReader } from './group-members.ts';
import { statusPageHtml } from './page.ts';
import type { Sample } from './samples.ts';

/**
 * The live status page of one aggregator, as routes for its operations server:
 * GET /status/ (the page) and GET /status/data (what the page polls every 2 s).
 */
export interface StatusPage {
  readonly html: Readonly<Record<string, () => string>>;
  readonly json: Readonly<Record<string, () => unknown>>;
  close(): Promise<void>;
}

/** Each P95 point covers this span of the latency histogram. */
export const P95_WINDOW_MS = 30_000;

export function createStatusPage(options: {
  readonly config: Config;
  readonly instance: string;
  readonly registry: Registry;
  /** Instead of the registry's samples (see StatusCollectorOptions.samples). */
  readonly samples?: () => Promise<Sample[]>;
  readonly runners: () => readonly Record<string, unknown>[];
  readonly logger: Logger;
}): StatusPage {
  const { config } = options;
  const pipelines = config.aggregator.pipelines;
  const collector = new StatusCollector({
    registry: options.registry,
    ...(options.samples ? { samples: options.samples } : {}),
    runners: options.runners,
    bridges: config.aggregator.statusBridges,
    logger: options.logger,
    groups: new GroupMembersReader({
      connection: config.kafka,
      topic: config.kafka.readingsTopic,
      groups: pipelines.map((pipeline) => ({ pipeline: pipeline.name, group: pipeline.consumerGroup })),
    }),
    settings: {
      instance: options.instance,
      slaP95Ms: config.aggregator.slaP95Ms,
      p95WindowMs: P95_WINDOW_MS,
      readingsTopic: config.kafka.readingsTopic,
      partitions: config.kafka.partitions,
      kafkaProtocol: config.kafka.security.protocol,
      clientIdPrefix: config.kafka.clientId,
      pipelines,
    },
  });
  return {
    html: { '/status/': statusPageHtml },
    json: { '/status/data': () => collector.data() },
    close: () => collector.close(),
  };
}
