import { loadConfigOf, parseConfigOf, ENV_PREFIX, type LoadOptions } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { LocalStackConfigSchema, type LocalStackConfig } from './config-schema.ts';

/**
 * The local stack's configuration: the services' schema plus the `stack` section, read from the
 * same file (`--config`, `TP_CONFIG`) and environment (`TP_STACK__MQTT_MODE=broker`) as documented.
 * Only the local-stack CLI and the test and load-test launchers call this; the services themselves
 * load src/config/schema.ts, which refuses `stack`, so what they are handed must be stripped of it.
 */
export function loadStackConfig(options: LoadOptions = {}): LocalStackConfig {
  return loadConfigOf(LocalStackConfigSchema, options);
}

/** An already-read local-stack configuration object, validated as loadStackConfig does. */
export function parseStackConfig(raw: unknown): LocalStackConfig {
  return parseConfigOf(LocalStackConfigSchema, raw);
}

/** The services' part of a local-stack configuration: what a bridge's or aggregator's file may hold. */
export function servicesConfig(config: Config | LocalStackConfig): Config {
  const { stack: _localStackOnly, ...services } = config as LocalStackConfig;
  return services;
}

const STACK_ENV_PREFIX = `${ENV_PREFIX}STACK__`;

/** An environment for a service started by the stack: the stack's own `TP_STACK__*` variables removed (a service refuses them). */
export function servicesEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !name.toUpperCase().startsWith(STACK_ENV_PREFIX)));
}
