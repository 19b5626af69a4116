import { ConfigError } from '../core/errors.ts';
import { parseCommandLine } from '../util/args.ts';

/** The aggregator's command line: `[--config <file>] [--instances <n>]`. */
export interface AggregatorArgs {
  /** The YAML file; undefined: $TP_CONFIG, or defaults and environment. */
  readonly config: string | undefined;
  /** Workers wanted on the command line; null: aggregator.instances decides. */
  readonly instances: number | null;
}

/** `args` without node's and the script's own (process.argv.slice(2)). */
export function parseAggregatorArgs(args: readonly string[]): AggregatorArgs {
  const values = parseCommandLine('aggregator', args, {
    config: { type: 'string', short: 'c' },
    instances: { type: 'string' },
  });
  return { config: values.config, instances: values.instances === undefined ? null : parseInstances(values.instances) };
}

/** A malformed worker count is the operator's to fix. */
export function parseInstances(raw: string): number {
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(value) || value < 0 || value > 256) {
    throw new ConfigError(`--instances is '${raw}'; expected a whole number from 0 to 256 (0: one per core)`, { key: 'aggregator.instances' });
  }
  return value;
}
