import { readFileSync, existsSync } from 'node:fs';
import { Value } from '@sinclair/typebox/value';
import type { Static, TSchema } from '@sinclair/typebox';
import { parse as parseYaml } from 'yaml';
import { ConfigError, errorMessage } from '../core/errors.ts';
import { ConfigSchema, type Config, type PipelineConfig } from './schema.ts';
import { guaranteeSettings, settingKey } from './guarantees.ts';
import { guaranteeViolations } from '../core/failure-analysis.ts';
import { holdsSecret, printableValueAt, readSecretFile } from './secrets.ts';

/**
 * Loads the one configuration: schema defaults, then the YAML file, then environment overrides.
 *
 * Environment overrides: `TP_<SECTION>__<KEY>` (double underscore between path segments,
 * case-insensitive), for example `TP_KAFKA__BROKERS=127.0.0.1:9092,127.0.0.1:9094` or
 * `TP_CLICKHOUSE__URL=http://db:8123`. Values are read as JSON when they parse as JSON, lists of
 * strings may be comma-separated, anything else is a string. A secret (schema Secret()) may instead
 * come from a file: `TP_<SECTION>__<KEY>_FILE=/run/secrets/x` reads the value from that file.
 */
export const ENV_PREFIX = 'TP_';
export const CONFIG_FILE_ENV = 'TP_CONFIG';

export interface LoadOptions {
  /** YAML file; defaults to $TP_CONFIG; no file means defaults plus environment. */
  readonly file?: string | undefined;
  readonly env?: NodeJS.ProcessEnv;
  /** Extra overrides applied last (tests, CLI flags), as a partial configuration object. */
  readonly overrides?: Record<string, unknown>;
}

type Source = Map<string, string>;

export function loadConfig(options: LoadOptions = {}): Config {
  return loadConfigOf(ConfigSchema, options);
}

/**
 * The same loading for a schema that extends the services' one (the local stack's, with its `stack`
 * section: src/stack/config.ts); its other sections are the services' configuration, unchanged.
 */
export function loadConfigOf<S extends TSchema>(schema: S, options: LoadOptions = {}): Static<S> & Config {
  const env = options.env ?? process.env;
  const file = options.file ?? env[CONFIG_FILE_ENV];
  const sources: Source = new Map();
  let raw: Record<string, unknown> = {};
  if (file) {
    raw = readConfigFile(file);
    markSources(raw, '', `file ${file}`, sources);
  }
  applyEnv(schema, raw, env, sources);
  if (options.overrides) {
    raw = deepMerge(raw, options.overrides);
    markSources(options.overrides, '', 'overrides', sources);
  }
  return parseConfigOf(schema, raw, sources);
}

export function parseConfig(raw: unknown, sources: Source = new Map()): Config {
  return parseConfigOf(ConfigSchema, raw, sources);
}

/** parseConfig for a schema that extends the services' one (see loadConfigOf). */
export function parseConfigOf<S extends TSchema>(schema: S, raw: unknown, sources: Source = new Map()): Static<S> & Config {
  const misplaced = mappingWhereListBelongs(raw, schema, []);
  if (misplaced) {
    const key = misplaced.join('.');
    const from = sources.get(key) ?? nearestSource(key, sources);
    const value = printableValueAt(raw, `/${misplaced.join('/')}`, schema);
    throw new ConfigError(`config key '${key}' has ${JSON.stringify(value)}: a mapping where a list belongs; expected a list${from ? ` (from ${from})` : ''}`, { key, source: from ?? 'defaults' });
  }
  const withDefaults = Value.Default(schema, structuredClone(raw ?? {}));
  const firstError = Value.Errors(schema, withDefaults).First();
  if (firstError) {
    const key = pointerToKey(firstError.path);
    // A secret, or a malformed value where one belongs, is never echoed (src/config/secrets.ts).
    const value = printableValueAt(withDefaults, firstError.path, schema);
    const expected = describeExpected(firstError.schema) ?? firstError.message;
    const meaning = typeof firstError.schema['description'] === 'string' ? ` — ${firstError.schema['description']}` : '';
    const from = sources.get(key) ?? nearestSource(key, sources);
    throw new ConfigError(
      `config key '${key || '<root>'}' has ${JSON.stringify(value) ?? 'no value'}: ${firstError.message}` +
        (expected !== firstError.message ? `; expected ${expected}` : '') +
        meaning +
        (from ? ` (from ${from})` : ''),
      { key, source: from ?? 'defaults' },
    );
  }
  const config = withDefaults as Static<S> & Config;
  resolveDerived(config);
  checkConsistency(config);
  return Object.freeze(config);
}

/**
 * TypeBox's Value.Default merges a mapping into a list's default (the mapping's fields become
 * properties of an array that validates), so such a value would pass as the default list: found here first.
 */
function mappingWhereListBelongs(value: unknown, schema: TSchema | undefined, path: string[]): string[] | undefined {
  if (schema === undefined || typeof value !== 'object' || value === null) return undefined;
  if (schema['type'] === 'array') {
    if (!Array.isArray(value)) return path;
    const items = schema['items'] as TSchema | undefined;
    for (const [index, item] of value.entries()) {
      const found = mappingWhereListBelongs(item, items, [...path, String(index)]);
      if (found) return found;
    }
    return undefined;
  }
  const properties = schema['properties'] as Record<string, TSchema> | undefined;
  if (properties === undefined || Array.isArray(value)) return undefined;
  for (const [key, child] of Object.entries(value)) {
    const found = mappingWhereListBelongs(child, properties[key], [...path, key]);
    if (found) return found;
  }
  return undefined;
}

function readConfigFile(file: string): Record<string, unknown> {
  if (!existsSync(file)) throw new ConfigError(`config file '${file}' does not exist`, { file });
  try {
    const parsed: unknown = parseYaml(readFileSync(file, 'utf8'));
    if (parsed === null || parsed === undefined) return {};
    if (typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new ConfigError(`config file '${file}' must hold a mapping at its top level`, { file });
    }
    return parsed as Record<string, unknown>;
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`config file '${file}' is not valid YAML: ${errorMessage(error)}`, { file });
  }
}

function applyEnv(root: TSchema, raw: Record<string, unknown>, env: NodeJS.ProcessEnv, sources: Source): void {
  for (const [name, text] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || name === CONFIG_FILE_ENV || text === undefined) continue;
    const segments = name.slice(ENV_PREFIX.length).split('__');
    const direct = resolvePath(root, segments);
    const fromFile = direct ? undefined : secretFileTarget(root, name, segments);
    const path = direct ?? fromFile;
    if (!path) {
      throw new ConfigError(`environment variable ${name} names no configuration key`, { variable: name });
    }
    if (fromFile && env[name.slice(0, -'_FILE'.length)] !== undefined) {
      throw new ConfigError(`environment variables ${name} and ${name.slice(0, -'_FILE'.length)} both set the secret '${path.join('.')}'; set one`, { variable: name });
    }
    const schema = schemaAt(root, path);
    setAt(raw, path, parseEnvValue(fromFile ? readSecretFile(name, text) : text, schema));
    sources.set(path.join('.'), fromFile ? `file ${text} (environment ${name})` : `environment ${name}`);
  }
}

/** `TP_<KEY>_FILE` for a key that holds a secret: the key's path; undefined otherwise. */
function secretFileTarget(root: TSchema, name: string, segments: string[]): string[] | undefined {
  const last = segments[segments.length - 1];
  if (!last?.toUpperCase().endsWith('_FILE')) return undefined;
  const path = resolvePath(root, [...segments.slice(0, -1), last.slice(0, -'_FILE'.length)]);
  if (!path) return undefined;
  if (!holdsSecret(schemaAt(root, path))) {
    throw new ConfigError(`environment variable ${name}: '${path.join('.')}' is not a secret; only secrets are read from files`, { variable: name });
  }
  return path;
}

function parseEnvValue(text: string, schema: TSchema | undefined): unknown {
  const options = (schema?.['anyOf'] as TSchema[] | undefined) ?? [];
  const expectsString = schema?.['type'] === 'string' || (options.length > 0 && options.every((option) => typeof option['const'] === 'string'));
  if (expectsString) return text;
  try {
    return JSON.parse(text);
  } catch {
    if (schema?.['type'] === 'array') return text.split(',').map((item) => item.trim()).filter(Boolean);
    return text;
  }
}

/** Maps case-insensitive env segments onto the schema's camelCase keys. */
function resolvePath(schema: TSchema, segments: string[]): string[] | undefined {
  const path: string[] = [];
  let current: TSchema | undefined = schema;
  for (const segment of segments) {
    const properties = current?.['properties'] as Record<string, TSchema> | undefined;
    if (!properties) return undefined;
    const wanted = segment.replace(/_/g, '').toLowerCase();
    const key = Object.keys(properties).find((candidate) => candidate.toLowerCase() === wanted);
    if (!key) return undefined;
    path.push(key);
    current = properties[key];
  }
  return path;
}

function schemaAt(schema: TSchema, path: string[]): TSchema | undefined {
  let current: TSchema | undefined = schema;
  for (const key of path) current = (current?.['properties'] as Record<string, TSchema> | undefined)?.[key];
  return current;
}

function setAt(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

function deepMerge(base: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    const existing = out[key];
    out[key] =
      isPlainObject(existing) && isPlainObject(value) ? deepMerge(existing, value) : structuredClone(value);
  }
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function markSources(value: unknown, prefix: string, source: string, sources: Source): void {
  if (!isPlainObject(value)) {
    sources.set(prefix, source);
    return;
  }
  for (const [key, child] of Object.entries(value)) markSources(child, prefix ? `${prefix}.${key}` : key, source, sources);
}

function nearestSource(key: string, sources: Source): string | undefined {
  const parts = key.split('.');
  while (parts.length > 0) {
    const hit = sources.get(parts.join('.'));
    if (hit) return hit;
    parts.pop();
  }
  return undefined;
}

function pointerToKey(pointer: string): string {
  return pointer
    .split('/')
    .filter(Boolean)
    .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'))
    .join('.');
}

function describeExpected(schema: TSchema): string | undefined {
  if (schema['pattern']) return `a string matching ${schema['pattern']}`;
  if (Array.isArray(schema['anyOf'])) {
    const kinds = (schema['anyOf'] as TSchema[])
      .map((option) => (option['const'] as string | undefined) ?? (option['properties'] as any)?.kind?.const)
      .filter(Boolean);
    if (kinds.length > 0) return `one of ${kinds.map((kind) => `'${kind}'`).join(', ')}`;
  }
  return undefined;
}

function resolveDerived(config: Config): void {
  for (const pipeline of config.aggregator.pipelines as PipelineConfig[]) {
    if (!pipeline.consumerGroup) pipeline.consumerGroup = `aggregator-${pipeline.name}`;
    if (!pipeline.table) pipeline.table = `agg_${pipeline.name}`;
  }
}

const ROLLUP_ORDER = ['1m', '1h', '1d'];

/** Settings that are each valid but contradict one another fail here, naming the keys. */
function checkConsistency(config: Config): void {
  const fail = (key: string, message: string): never => {
    throw new ConfigError(`config key '${key}' ${message}`, { key });
  };
  if (config.kafka.minInsyncReplicas > config.kafka.replicationFactor) {
    fail('kafka.minInsyncReplicas', `is ${config.kafka.minInsyncReplicas} but kafka.replicationFactor is ${config.kafka.replicationFactor}; it must not exceed it`);
  }
  if (config.edge.producer.idempotence && config.edge.producer.acks !== 'all') {
    fail('edge.producer.acks', `is '${config.edge.producer.acks}' but an idempotent producer (edge.producer.idempotence) needs acks 'all'; set acks to 'all' or idempotence to false`);
  }
  const { headersTimeoutMs, requestTimeoutMs, bodyIdleTimeoutMs } = config.edge.httpLimits;
  if (headersTimeoutMs > requestTimeoutMs || bodyIdleTimeoutMs > requestTimeoutMs) {
    fail('edge.httpLimits.requestTimeoutMs', `is ${requestTimeoutMs} but the headers (${headersTimeoutMs}) and body-idle (${bodyIdleTimeoutMs}) timeouts are parts of a request; it must not be shorter than either`);
  }
  if (config.clickhouse.replicaUrls.length > 0 && !config.clickhouse.cluster) {
    fail('clickhouse.replicaUrls', `lists ${config.clickhouse.replicaUrls.length} replica(s) but clickhouse.cluster is empty; non-replicated tables on several servers would diverge: name the cluster or empty the list`);
  }
  if (config.clickhouse.replicaUrls.includes(config.clickhouse.url)) {
    fail('clickhouse.replicaUrls', `repeats clickhouse.url (${config.clickhouse.url}); list only the other replicas`);
  }
  const names = new Set<string>();
  config.aggregator.pipelines.forEach((pipeline, index) => {
    const at = `aggregator.pipelines.${index}`;
    if (names.has(pipeline.name)) fail(`${at}.name`, `repeats the pipeline name '${pipeline.name}'; names must be unique`);
    names.add(pipeline.name);
    const { window, watermark } = pipeline;
    if (window.kind === 'sliding') {
      if (window.slideMs > window.sizeMs) fail(`${at}.window.slideMs`, `is ${window.slideMs} but must not exceed window.sizeMs (${window.sizeMs})`);
      if (window.sizeMs % window.slideMs !== 0) fail(`${at}.window.slideMs`, `is ${window.slideMs} but must divide window.sizeMs (${window.sizeMs}) evenly`);
    }
    pipeline.rollups.forEach((rollup, level) => {
      const finer = pipeline.rollups[level - 1];
      if (finer && ROLLUP_ORDER.indexOf(rollup.level) <= ROLLUP_ORDER.indexOf(finer.level)) {
        fail(`${at}.rollups.${level}.level`, `is '${rollup.level}' after '${finer.level}'; list each level once, finest first (1m, 1h, 1d): a level is built from the one before it`);
      }
    });
    if (watermark.kind === 'adaptive' && watermark.floorMs > watermark.ceilingMs) {
      fail(`${at}.watermark.floorMs`, `is ${watermark.floorMs} but watermark.ceilingMs is ${watermark.ceilingMs}; the floor must not exceed the ceiling`);
    }
  });
  config.aggregator.pipelines.forEach((pipeline, index) => {
    const [violation] = guaranteeViolations(guaranteeSettings(config, pipeline), settingKey(index));
    if (violation) fail(violation.key, `contradicts the guarantee: ${violation.message}`);
  });
  const groups = config.aggregator.pipelines.map((pipeline) => pipeline.consumerGroup);
  const duplicateGroup = groups.find((group, index) => groups.indexOf(group) !== index);
  if (duplicateGroup) fail('aggregator.pipelines', `gives two pipelines the consumer group '${duplicateGroup}'; each pipeline needs its own`);
}
