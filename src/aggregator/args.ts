import { ConfigError } from '../core/errors.ts';
import { parseCommandLine } from '../util/args.ts';

/** The aggregator's command line: `[--config <file>] [--instances <n>]` (and `--worker`, which the service's supervisor gives its workers). */
export interface AggregatorArgs {
  /** The YAML file; undefined: $TP_CONFIG, or defaults and environment. */
  readonly config: string | undefined;
  /** Workers wanted on the command line; null: aggregator.instances decides. */
  readonly instances: number | null;
  /**
   * Started by the service's supervisor as one of its workers: it joins the consumer groups when
   * the supervisor says so (src/aggregator/worker-start.ts), not as soon as it is prepared.
   */
  readonly worker: boolean;
}

/** `args` without node's and the script's own (process.argv.slice(2)). */
export function parseAggregatorArgs(args: readonly string[]): AggregatorArgs {
  const values = parseCommandLine('aggregator', args, {
    config: { type: 'string', short: 'c' },
    instances: { type: 'string' },
    worker: { type: 'boolean' },
  });
  return { config: values.config, instances: values.instances === undefined ? null : parseInstances(values.instances), worker: values.worker === true };
}

/** A malformed worker count is the operator's to fix. */
export function parseInstances(raw: string): number {
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(value) || value < 0 || value > 256) {
    throw new ConfigError(`--instances is '${raw}'; expected a whole number from 0 to 256 (0: one per core)`, { key: 'aggregator.instances' });
  }
  return value;
}
