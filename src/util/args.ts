import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError } from '../core/errors.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * The one way a single-command entry point (a service's main, a benchmark, a tool) reads its
 * command line: node:util parseArgs, strict. `--name value` and `--name=value` are the same; an
 * option the program does not know, one without its value, a value given to a switch, or a stray
 * argument is refused with a ConfigError that names it (node's own message) and the options. The
 * sub-command CLI (src/cli.ts) uses commander, which refuses the same things its own way.
 */
export function parseCommandLine<const O extends Options>(program: string, args: readonly string[], options: O) {
  try {
    return parseArgs({ args: [...args], options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new ConfigError(`${message} (options: ${Object.keys(options).map((name) => `--${name}`).join(', ')})`, { program });
  }
}
