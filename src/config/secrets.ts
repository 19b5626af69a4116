import { readFileSync } from 'node:fs';
import type { TSchema } from '@sinclair/typebox';
import { ConfigError, errorMessage } from '../core/errors.ts';
import { ConfigSchema, SECRET_MARK } from './schema.ts';

/**
 * What the schema's Secret() marks means everywhere configuration is shown. A value is hidden when
 * it sits where a secret belongs, and also when it sits inside something that holds a secret but
 * does not have the shape the schema expects (a string where the list of gateway keys belongs, an
 * unknown field beside a key): then nobody can tell which part of it is the secret.
 */
export const SECRET_CENSOR = '[secret]';

export function isSecret(schema: TSchema | undefined): boolean {
  return schema?.[SECRET_MARK] === true;
}

/** True when the schema is a secret or anything below it is. */
export function holdsSecret(schema: TSchema | undefined): boolean {
  if (schema === undefined) return false;
  if (isSecret(schema)) return true;
  const children = [
    ...Object.values((schema['properties'] as Record<string, TSchema> | undefined) ?? {}),
    ...((schema['anyOf'] as TSchema[] | undefined) ?? []),
    ...(schema['items'] ? [schema['items'] as TSchema] : []),
  ];
  return children.some(holdsSecret);
}

/** Dotted paths of every secret (`[]` for the items of a list), in schema order. */
export function secretPaths(schema: TSchema = ConfigSchema, prefix = ''): string[] {
  if (isSecret(schema)) return [prefix];
  const found: string[] = [];
  for (const [name, child] of Object.entries((schema['properties'] as Record<string, TSchema> | undefined) ?? {})) {
    found.push(...secretPaths(child, prefix ? `${prefix}.${name}` : name));
  }
  const items = schema['items'] as TSchema | undefined;
  if (items) found.push(...secretPaths(items, `${prefix}[]`));
  return found;
}

/** A copy of `value` with every secret replaced by SECRET_CENSOR ('' stays '': it says "none set"). */
export function redactSecrets(value: unknown, schema: TSchema | undefined = ConfigSchema): unknown {
  if (isSecret(schema)) return value === '' ? '' : SECRET_CENSOR;
  if (!holdsSecret(schema)) return value;
  const items = schema!['items'] as TSchema | undefined;
  if (items !== undefined) return Array.isArray(value) ? value.map((item) => redactSecrets(item, items)) : SECRET_CENSOR;
  const properties = schema!['properties'] as Record<string, TSchema> | undefined;
  if (properties === undefined || typeof value !== 'object' || value === null || Array.isArray(value)) return SECRET_CENSOR;
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) out[key] = properties[key] === undefined ? SECRET_CENSOR : redactSecrets(child, properties[key]);
  return out;
}

/**
 * The value at a JSON pointer of the configuration, safe to print in a validation message: secrets
 * on the way down hide everything below them, and a value under a secret-holding node that the
 * schema does not know is hidden whole.
 */
export function printableValueAt(root: unknown, pointer: string, schema: TSchema = ConfigSchema): unknown {
  let node: unknown = root;
  let current: TSchema | undefined = schema;
  let parentHoldsSecret = false;
  for (const segment of pointer.split('/').filter(Boolean)) {
    if (isSecret(current)) return SECRET_CENSOR;
    parentHoldsSecret = holdsSecret(current);
    current = childSchema(current, segment);
    node = typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[segment] : undefined;
  }
  if (node === undefined) return undefined;
  if (current === undefined) return parentHoldsSecret ? SECRET_CENSOR : node;
  return redactSecrets(node, current);
}

function childSchema(schema: TSchema | undefined, segment: string): TSchema | undefined {
  if (schema === undefined) return undefined;
  const properties = schema['properties'] as Record<string, TSchema> | undefined;
  if (properties?.[segment]) return properties[segment];
  if (/^\d+$/.test(segment) && schema['items']) return schema['items'] as TSchema;
  return undefined;
}

/**
 * A secret from a file (`TP_<KEY>_FILE`, the convention of mounted Kubernetes and Docker Secrets):
 * its content without the trailing newline an editor or `echo` leaves. The error names the variable
 * and the file, never the content.
 */
export function readSecretFile(variable: string, file: string): string {
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (error) {
    throw new ConfigError(`environment variable ${variable} names the file '${file}', which cannot be read: ${errorMessage(error)}`, { variable, file });
  }
}

/**
 * Log lines: a copy of the object with each secret censored, at any depth and under any key the
 * caller chose (`{ config }`, `{ edge }`, `{ gatewayKeys }`, the configuration itself). Rules from
 * the schema: a secret's own name is censored wherever it appears when it is specific enough
 * (`password`), and otherwise (`key`) only as a field of an item of its list (`gatewayKeys`).
 * Objects are copied only where something is censored; the caller's object is never changed.
 */
export interface LogRedactor {
  (record: Record<string, unknown>): Record<string, unknown>;
}

const LOG_DEPTH = 8;

/** Names censored in log lines besides the schema's secrets: credentials that travel in requests. */
const LOG_SECRET_NAMES = ['apiKey', 'apiKeys', 'authorization'];

export function logRedactor(schema: TSchema = ConfigSchema): LogRedactor {
  const anywhere = new Set<string>(LOG_SECRET_NAMES);
  const inListItems = new Map<string, Set<string>>();
  for (const path of secretPaths(schema)) {
    const segments = path.split('.');
    const leaf = segments[segments.length - 1]!;
    const parent = segments[segments.length - 2];
    if (parent?.endsWith('[]')) {
      const list = parent.slice(0, -2);
      inListItems.set(list, new Set([...(inListItems.get(list) ?? []), leaf]));
    } else {
      anywhere.add(leaf);
    }
  }
  const scrub = (value: unknown, depth: number, itemSecrets: ReadonlySet<string> | undefined): unknown => {
    if (depth > LOG_DEPTH || typeof value !== 'object' || value === null || Buffer.isBuffer(value) || value instanceof Error) return value;
    if (Array.isArray(value)) {
      let copy: unknown[] | undefined;
      value.forEach((item, index) => {
        const scrubbed = scrub(item, depth + 1, itemSecrets);
        if (scrubbed !== item) (copy ??= [...value])[index] = scrubbed;
      });
      return copy ?? value;
    }
    let copy: Record<string, unknown> | undefined;
    for (const [key, child] of Object.entries(value)) {
      const secret = anywhere.has(key) || itemSecrets?.has(key) === true;
      const scrubbed = secret ? (child === '' ? '' : SECRET_CENSOR) : scrub(child, depth + 1, Array.isArray(child) ? inListItems.get(key) : undefined);
      if (scrubbed !== child) (copy ??= { ...(value as Record<string, unknown>) })[key] = scrubbed;
    }
    return copy ?? value;
  };
  return (record) => scrub(record, 0, undefined) as Record<string, unknown>;
}
