import type { Config } from '../config/schema.ts';
import { guaranteeSettings } from '../config/guarantees.ts';
import { transportText } from '../config/tls-schema.ts';
import { kafkaTransportText } from '../kafka/connection.ts';
import { failureAnalysis } from '../core/failure-analysis.ts';
import { ConfigError } from '../core/errors.ts';
import { withProof, type Proof, type ProvenScenarioOutcome } from './proofs.ts';

/**
 * `guarantees explain`: for every pipeline of a configuration, the failure table (scenario →
 * lost, duplicated or exact, and by which mechanism) and the measured cost of its tier. The
 * Markdown is meant to be pasted into an architecture review as it is.
 */
export interface TierCost {
  readonly readings_per_s: number;
  readonly e2e_p95_ms: number;
}

/**
 * The measured costs of the tiers, as `npm run bench:tiers` writes them (loadtest/results/tiers.json).
 * An input, never looked for: the container image holds no benchmark results, so the CLI takes the
 * file as --costs and the docs' renderer passes the committed one.
 */
export interface TierCosts {
  readonly measuredAt: string;
  readonly tiers: Readonly<Record<string, TierCost>>;
}

/** A tiers.json text; `source` names it in the error when its shape is not that. */
export function parseTierCosts(text: string, source: string): TierCosts {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`tier costs '${source}' is not JSON: ${error instanceof Error ? error.message : String(error)}`, { file: source });
  }
  const costs = parsed as Partial<TierCosts> | null;
  const tiers = costs?.tiers;
  const valid =
    typeof costs?.measuredAt === 'string' &&
    typeof tiers === 'object' && tiers !== null &&
    Object.values(tiers).every((tier) => typeof tier?.readings_per_s === 'number' && typeof tier.e2e_p95_ms === 'number');
  if (!valid) throw new ConfigError(`tier costs '${source}' is not a bench:tiers result ({measuredAt, tiers: {<tier>: {readings_per_s, e2e_p95_ms}}})`, { file: source });
  return costs as TierCosts;
}

export interface PipelineExplanation {
  readonly pipeline: string;
  readonly guarantee: string;
  readonly window: unknown;
  readonly settings: ReturnType<typeof guaranteeSettings>;
  readonly scenarios: ProvenScenarioOutcome[];
  readonly measuredCost: (TierCost & { measuredAt: string }) | null;
  /** edge.tls: TLS on the device- and gateway-facing hops, or plaintext said explicitly. */
  readonly transport: string;
  /** kafka.security: SASL_SSL to the brokers, or plaintext said explicitly. */
  readonly kafkaTransport: string;
}

export function explain(config: Config, only?: string, costs: TierCosts | null = null): PipelineExplanation[] {
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
        scenarios: failureAnalysis(settings).map((row) => withProof(settings, row)),
        measuredCost: cost && costs ? { readings_per_s: cost.readings_per_s, e2e_p95_ms: cost.e2e_p95_ms, measuredAt: costs.measuredAt } : null,
        transport: transportText(config.edge.tls),
        kafkaTransport: kafkaTransportText(config.kafka.security),
      };
    });
}

/** What a device gets from the MQTT mode the deployment runs (mqtt.mode). */
export function mqttModeText(s: PipelineExplanation['settings']): string {
  if (s.mqtt.mode === 'direct') {
    return s.edge.ackMode === 'after-kafka'
      ? "MQTT mode: **direct** — devices connect to the bridge itself; a QoS 1 PUBLISH gets its PUBACK (QoS 2: PUBREC) only after Kafka acknowledged every reading of it, so a device holds and resends whatever was not acknowledged, whatever fails."
      : 'MQTT mode: **direct** — devices connect to the bridge itself, and are acknowledged on receipt (edge.ackMode on-receipt): a reading not yet in Kafka when the bridge fails is lost.';
  }
  const p = s.mqtt.brokerPersistence;
  const saving = p.mode === 'off' ? 'keeps it in memory only (persistence off)' : p.mode === 'autosave-interval' ? `saves it to disk every ${p.autosave} s` : `saves it to disk after every ${p.autosave} changes`;
  return (
    `MQTT mode: **broker** — devices publish to an MQTT broker, and the bridges take the messages through a shared subscription. The device's PUBACK comes from the broker when the message arrives, ` +
    `not after Kafka's ack: the broker ${saving}, so a broker crash loses what it acknowledged since its last save and had not yet handed to a bridge (rows "the MQTT broker … is killed" and "the MQTT broker restarts" below). ` +
    "The bridge's own acknowledgement to the broker still waits for Kafka. Choose direct mode when devices must be acknowledged only once a reading is in Kafka."
  );
}

export function explainMarkdown(explanations: readonly PipelineExplanation[]): string {
  const out: string[] = [];
  for (const entry of explanations) {
    const s = entry.settings;
    out.push(`### Pipeline \`${entry.pipeline}\` — ${entry.guarantee}`, '');
    out.push(mqttModeText(s), '');
    out.push(entry.transport, '');
    out.push(entry.kafkaTransport, '');
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
        : 'Measured cost of this tier: not given (run `npm run bench:tiers`, then pass its result with `guarantees explain --costs loadtest/results/tiers.json`).',
      '',
    );
    out.push(...failureTable(entry.scenarios), '');
  }
  return out.join('\n');
}

/**
 * The failure table with, per row, the tests that prove it (numbered, listed under the table) or
 * what is not proven, so that a reader can tell a tested claim from a derived one.
 */
export function failureTable(rows: readonly ProvenScenarioOutcome[]): string[] {
  const numbers = new Map<string, number>();
  const listed: Proof[] = [];
  const numberOf = (proof: Proof): number => {
    const key = `${proof.file}\n${proof.test}`;
    let n = numbers.get(key);
    if (n === undefined) {
      n = listed.push(proof);
      numbers.set(key, n);
    }
    return n;
  };
  const out = ['| failure | outcome | mechanism | proven by |', '| --- | --- | --- | --- |'];
  for (const row of rows) {
    const refs = row.provenBy.map((proof) => `[${numberOf(proof)}]`).join(' ');
    const note = row.unproven === undefined ? '' : ` *${row.provenBy.length > 0 ? 'Not fully proven' : 'Not proven by a test'}: ${row.unproven}.*`;
    out.push(`| ${row.scenario} | **${row.outcome}** | ${row.mechanism}${note} | ${refs === '' ? '—' : refs} |`);
  }
  out.push('', 'Proven by:', '');
  for (const [index, proof] of listed.entries()) out.push(`${index + 1}. \`${proof.file}\` — ${proof.test.replaceAll('|', '\\|')}`);
  return out;
}
