import type { TSchema } from '@sinclair/typebox';
import { stringify as stringifyYaml } from 'yaml';
import { ConfigSchema } from './schema.ts';
import { isSecret } from './secrets.ts';

/**
 * The configuration reference, generated from the schema itself so that the documentation cannot
 * drift from what the loader accepts: `npm run cli -- config --reference` prints the table, and
 * docs/render.ts writes the whole page to CONFIG_REFERENCE_PAGE (a unit test holds the committed
 * page equal to this output, and fails on a key without a description).
 */
export const CONFIG_REFERENCE_PAGE = 'docs/reference/configuration.md';

export interface ConfigKey {
  /** Dotted path as written in YAML; `[]` marks the items of a list (one entry per pipeline). */
  readonly path: string;
  readonly type: string;
  readonly default: string;
  readonly meaning: string;
}

/** A default longer than this is shown below the table, as YAML, instead of in its cell. */
const LONG_DEFAULT = 60;

export function configKeys(schema: TSchema = ConfigSchema): ConfigKey[] {
  const keys: ConfigKey[] = [];
  walk(schema, '', keys);
  return keys;
}

/** Paths of keys whose meaning is missing: each one is a documentation defect. */
export function undocumentedKeys(schema: TSchema = ConfigSchema): string[] {
  return configKeys(schema)
    // 'secret' alone was once the schema's secret marker; it says nothing about the key.
    .filter((key) => key.meaning.trim() === '' || key.meaning.trim().toLowerCase() === 'secret')
    .map((key) => key.path);
}

export function configReference(): string {
  const rows = configKeys().map((key) => `| \`${key.path}\` | ${key.type} | ${key.default} | ${cell(key.meaning)} |`);
  return ['| key | type | default | meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

/**
 * `localStack`: the local stack's own section (src/stack/config-schema.ts StackSchema), listed after
 * the services' keys; passed in, since the services' configuration does not know it.
 */
export function configReferencePage(localStack?: TSchema): string {
  const long = longDefaults(ConfigSchema, '');
  const stackRows = localStack === undefined ? [] : configKeys(localStack).map((key) => `| \`stack.${key.path}\` | ${key.type} | ${key.default} | ${cell(key.meaning)} |`);
  const stackSection =
    stackRows.length === 0
      ? []
      : [
          '## Local stack only: `stack.*`',
          '',
          'Read only by the local-stack CLI (`npm run stack`, `--local` commands) and the test and load-test',
          'launchers, from the same file and `TP_STACK__<KEY>` variables (for example `TP_STACK__MQTT_MODE=broker`).',
          'The services themselves refuse a `stack` section: the local stack hands them its file without it.',
          '',
          '| key | type | default | meaning |',
          '| --- | --- | --- | --- |',
          ...stackRows,
          '',
        ];
  const sections = long.map(({ path, value }) => {
    const yaml = stringifyYaml(nest(path, value), { lineWidth: 0 }).trimEnd();
    return `### Default of \`${path}\`\n\n\`\`\`yaml\n${yaml}\n\`\`\``;
  });
  return [
    '# Configuration reference',
    '',
    '<!-- Generated from src/config/schema.ts by src/config/reference.ts (node --import tsx docs/render.ts); do not edit by hand. -->',
    '',
    'One YAML file (`--config <file>` or `TP_CONFIG`), overridden by environment variables',
    '`TP_<SECTION>__<KEY>` (for example `TP_KAFKA__BROKERS=10.0.0.1:9092,10.0.0.2:9092`), validated at',
    'start-up: an unknown key, a bad value or two settings that contradict each other stop the service',
    'with a message that names the key, the value and what is expected. `npm run cli -- config` prints',
    'the resolved configuration (secrets hidden); `npm run cli -- config --reference` prints the table below.',
    '',
    'Examples that the loader accepts (a unit test loads them):',
    '[`config/pipelines.example.yaml`](../../config/pipelines.example.yaml) (three pipelines, one per',
    'delivery tier) and [`deploy/config/pipeline.example.yaml`](../../deploy/config/pipeline.example.yaml)',
    '(what the deployments are rendered from).',
    '',
    '`aggregator.pipelines[]` keys belong to each entry of the pipeline list. A `window`, `watermark` or',
    '`latePolicy` is chosen by its `kind`; a key marked "kind …" belongs to those kinds only. "required"',
    'means the key has no default and must be given.',
    '',
    configReference(),
    '',
    ...stackSection,
    '## Long defaults',
    '',
    ...sections.flatMap((section) => [section, '']),
  ].join('\n');
}

function walk(schema: TSchema, prefix: string, keys: ConfigKey[]): void {
  const properties = schema['properties'] as Record<string, TSchema> | undefined;
  if (!properties) return;
  for (const [name, child] of Object.entries(properties)) {
    const path = prefix ? `${prefix}.${name}` : name;
    if (child['type'] === 'object' && child['properties']) {
      walk(child, path, keys);
      continue;
    }
    const variants = objectVariants(child);
    if (variants) {
      walkVariants(child, variants, path, keys);
      continue;
    }
    keys.push(row(path, child, typeOf(child)));
    const items = child['items'] as TSchema | undefined;
    if (child['type'] === 'array' && items?.['type'] === 'object') walk(items, `${path}[]`, keys);
  }
}

/** A union of objects told apart by `kind`: the union's description is the meaning of `kind`. */
function walkVariants(union: TSchema, variants: readonly TSchema[], path: string, keys: ConfigKey[]): void {
  const kinds = variants.map(kindOf);
  keys.push(row(`${path}.kind`, union, kinds.map((kind) => `\`${JSON.stringify(kind)}\``).join(' \\| ')));
  const seen = new Map<string, { schema: TSchema; kinds: string[] }>();
  for (const variant of variants) {
    for (const [name, child] of Object.entries(variant['properties'] as Record<string, TSchema>)) {
      if (name === 'kind') continue;
      const entry = seen.get(name) ?? { schema: child, kinds: [] };
      entry.kinds.push(kindOf(variant));
      // A key shared by several kinds must mean the same in each; a missing description in any of them counts.
      if (!child['description']) entry.schema = child;
      seen.set(name, entry);
    }
  }
  for (const [name, { schema, kinds: of }] of seen) keys.push(row(`${path}.${name}`, schema, `${typeOf(schema)}, kind ${of.join(', ')}`));
}

function row(path: string, schema: TSchema, type: string): ConfigKey {
  const meaning = (schema['description'] as string | undefined) ?? '';
  return { path, type: isSecret(schema) ? `${type}, secret` : type, default: defaultOf(path, schema), meaning };
}

function objectVariants(schema: TSchema): TSchema[] | undefined {
  const options = schema['anyOf'] as TSchema[] | undefined;
  if (!Array.isArray(options) || !options.every((option) => option['type'] === 'object' && option['properties']?.['kind'])) return undefined;
  return options;
}

function kindOf(variant: TSchema): string {
  return String((variant['properties'] as Record<string, TSchema>)['kind']?.['const']);
}

function typeOf(schema: TSchema): string {
  if (Array.isArray(schema['anyOf'])) {
    return (schema['anyOf'] as TSchema[]).map((option) => (option['const'] !== undefined ? `\`${JSON.stringify(option['const'])}\`` : typeOf(option))).join(' \\| ');
  }
  if (schema['type'] === 'array') return `list of ${typeOf(schema['items'] as TSchema)}`;
  const bounds = [
    schema['minimum'] !== undefined ? `≥ ${schema['minimum']}` : '',
    schema['exclusiveMinimum'] !== undefined ? `> ${schema['exclusiveMinimum']}` : '',
    schema['maximum'] !== undefined ? `≤ ${schema['maximum']}` : '',
    schema['exclusiveMaximum'] !== undefined ? `< ${schema['exclusiveMaximum']}` : '',
  ]
    .filter(Boolean)
    .join(', ');
  return `${String(schema['type'] ?? 'object')}${bounds ? ` (${bounds})` : ''}`;
}

function defaultOf(path: string, schema: TSchema): string {
  const value: unknown = schema['default'];
  if (value === undefined) return 'required';
  if (isSecret(schema) && value) return '(secret)';
  const text = JSON.stringify(value);
  if (text.length > LONG_DEFAULT) return `[see below](#${anchorOf(path)})`;
  return `\`${text.replace(/\|/g, '\\|')}\``;
}

function longDefaults(schema: TSchema, prefix: string): Array<{ path: string; value: unknown }> {
  const found: Array<{ path: string; value: unknown }> = [];
  for (const [name, child] of Object.entries((schema['properties'] as Record<string, TSchema> | undefined) ?? {})) {
    const path = prefix ? `${prefix}.${name}` : name;
    if (child['type'] === 'object' && child['properties']) found.push(...longDefaults(child, path));
    else if (child['default'] !== undefined && JSON.stringify(child['default']).length > LONG_DEFAULT) found.push({ path, value: child['default'] });
  }
  return found;
}

/** GitHub's heading anchor for "Default of `<path>`": lower case, punctuation dropped, spaces to dashes. */
function anchorOf(path: string): string {
  return `default-of-${path.toLowerCase().replace(/[^a-z0-9_-]/g, '')}`;
}

function nest(path: string, value: unknown): unknown {
  return path
    .split('.')
    .reverse()
    .reduce<unknown>((inner, segment) => ({ [segment]: inner }), value);
}

/** Table cells: a pipe would end the cell, and `<name>` would be read as an HTML tag and vanish. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/</g, '&lt;');
}
