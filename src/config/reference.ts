import type { TSchema } from '@sinclair/typebox';
import { ConfigSchema } from './schema.ts';

/**
 * The configuration reference as a Markdown table, generated from the schema itself so that
 * README's reference cannot drift from what the loader accepts.
 */
export function configReference(): string {
  const rows: string[] = ['| key | type | default | meaning |', '| --- | --- | --- | --- |'];
  walk(ConfigSchema, '', rows);
  return rows.join('\n');
}

function walk(schema: TSchema, prefix: string, rows: string[]): void {
  const properties = schema['properties'] as Record<string, TSchema> | undefined;
  if (!properties) return;
  for (const [key, child] of Object.entries(properties)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (child['type'] === 'object' && child['properties']) {
      walk(child, path, rows);
      continue;
    }
    rows.push(`| \`${path}\` | ${typeOf(child)} | ${defaultOf(child)} | ${(child['description'] as string | undefined) ?? ''} |`);
  }
}

function typeOf(schema: TSchema): string {
  if (Array.isArray(schema['anyOf'])) {
    const options = (schema['anyOf'] as TSchema[]).map((option) =>
      option['const'] !== undefined ? `\`${JSON.stringify(option['const'])}\`` : `{kind: ${JSON.stringify((option['properties'] as Record<string, TSchema> | undefined)?.['kind']?.['const'])}}`,
    );
    return options.join(' \\| ');
  }
  if (schema['type'] === 'array') return `list of ${typeOf(schema['items'] as TSchema)}`;
  const bounds = [schema['minimum'] !== undefined ? `≥ ${schema['minimum']}` : '', schema['maximum'] !== undefined ? `≤ ${schema['maximum']}` : '']
    .filter(Boolean)
    .join(', ');
  return `${String(schema['type'] ?? 'object')}${bounds ? ` (${bounds})` : ''}`;
}

function defaultOf(schema: TSchema): string {
  if (schema['default'] === undefined) return '—';
  if (schema['description'] === 'secret' && schema['default']) return '(secret)';
  const text = JSON.stringify(schema['default']);
  return text.length > 60 ? '(see config/pipeline.example.yaml)' : `\`${text.replace(/\|/g, '\\|')}\``;
}
