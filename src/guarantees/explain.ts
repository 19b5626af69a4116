import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/schema.ts';
import { guaranteeSettings } from '../config/guarantees.ts';
import { failureAnalysis, type ScenarioOutcome } from '../core/failure-analysis.ts';
import { REPO_ROOT } from '../stack/paths.ts';

/**
 * `guarantees explain`: for every pipeline of a configuration, the failure table (scenario →
 * lost, duplicated or exact, and by which mechanism) and the measured cost of its tier. The
 * Markdown is meant to be pasted into an architecture review as it is.
 */
export interface TierCost {
  readonly readings_per_s: number;
  readonly e2e_p95_ms: number;
}

export const TIER_COSTS_FILE = join(REPO_ROOT, 'loadtest', 'results', 'tiers.json');

export interface PipelineExplanation {
  readonly pipeline: string;
  readonly guarantee: string;
  readonly window: unknown;
  readonly settings: ReturnType<typeof guaranteeSettings>;
  readonly scenarios: ScenarioOutcome[];
  readonly measuredCost: (TierCost & { measuredAt: string }) | null;
}

export function explain(config: Config, only?: string): PipelineExplanation[] {
  const costs = readCosts();
  return config.aggregator.pipelines
    .filter((pipeline) => only === undefined || pipeline.name === only)
    .map((pipeline) => {
      const settings = guaranteeSettings(config, pipeline);
      const cost = costs?.tiers[pipeline.guarantee];
      return {
        pipeline: pipeline.name,
        guarantee: pipeline.guarantee,
        window: pipeline.window,
        settings,
        scenarios: failureAnalysis(settings),
        measuredCost: cost && costs ? { ...cost, measuredAt: costs.measuredAt } : null,
      };
    });
}

function readCosts(): { measuredAt: string; tiers: Record<string, TierCost> } | null {
  if (!existsSync(TIER_COSTS_FILE)) return null;
  return JSON.parse(readFileSync(TIER_COSTS_FILE, 'utf8')) as { measuredAt: string; tiers: Record<string, TierCost> };
}

export function explainMarkdown(explanations: readonly PipelineExplanation[]): string {
  const out: string[] = [];
  for (const entry of explanations) {
    const s = entry.settings;
    out.push(`### Pipeline \`${entry.pipeline}\` — ${entry.guarantee}`, '');
    out.push(
      `Settings: device acknowledged ${s.edge.ackMode === 'after-kafka' ? "after Kafka's ack" : 'on receipt'}; producer acks=${s.edge.acks}, idempotence ${s.edge.idempotence ? 'on' : 'off'}; ` +
        `replication ${s.kafka.replicationFactor}, min.insync.replicas ${s.kafka.minInsyncReplicas}; consumer ${s.consumer.isolation}, ` +
        `${s.consumer.autoCommit ? 'auto-commit while reading' : 'offsets committed after the sink'}; window state ${s.checkpointed ? 'checkpointed to ClickHouse' : 'not checkpointed'}; ` +
        `late readings ${s.lateToKafka ? `to a Kafka topic${s.transactionalKafkaWrites ? ' (transactional, offsets in the same transaction)' : ''}` : 'kept in ClickHouse'}; rows deduplicated by ReplacingMergeTree(version).`,
      '',
    );
    out.push(
      entry.measuredCost
        ? `Measured cost of this tier (npm run bench:tiers, ${entry.measuredCost.measuredAt}): ${entry.measuredCost.readings_per_s.toLocaleString('en-US')} readings/s, end-to-end P95 ${(entry.measuredCost.e2e_p95_ms / 1000).toFixed(2)} s.`
        : 'Measured cost of this tier: not measured on this machine yet (run `npm run bench:tiers`).',
      '',
    );
    out.push('| failure | outcome | mechanism |', '| --- | --- | --- |');
    for (const scenario of entry.scenarios) out.push(`| ${scenario.scenario} | **${scenario.outcome}** | ${scenario.mechanism} |`);
    out.push('');
  }
  return out.join('\n');
}
