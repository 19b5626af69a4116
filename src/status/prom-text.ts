import { PipelineError } from '../core/errors.ts';
import type { Sample } from './samples.ts';

/**
 * A parser of the Prometheus text exposition format (version 0.0.4), enough for what prom-client
 * writes: `# HELP`/`# TYPE` comments, `name{label="value",...} value [timestamp]`, label values
 * with `\\`, `\"` and `\n` escapes, and the values `+Inf`, `-Inf` and `NaN` (any letter case, as Prometheus reads them).
 */
export class MetricsTextError extends PipelineError {
  constructor(message: string, context: Record<string, string | number>) {
    super('STATUS_METRICS_UNPARSABLE', message, { retriable: false, context });
    this.name = 'MetricsTextError';
  }
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;

export function parsePrometheusText(text: string): Sample[] {
  const samples: Sample[] = [];
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    samples.push(parseSampleLine(line, index + 1));
  }
  return samples;
}

function parseSampleLine(line: string, lineNumber: number): Sample {
  const fail = (why: string): never => {
    throw new MetricsTextError(`metrics text line ${lineNumber}: ${why}: ${line.slice(0, 120)}`, { line: lineNumber });
  };
  const name = NAME.exec(line)?.[0] ?? fail('no metric name');
  let position = name.length;
  const labels: Record<string, string> = {};
  if (line[position] === '{') {
    position++;
    for (;;) {
      position = skipSpaces(line, position);
      if (line[position] === '}') {
        position++;
        break;
      }
      const labelName = LABEL_NAME.exec(line.slice(position))?.[0] ?? fail('bad label name');
      position = skipSpaces(line, position + labelName.length);
      if (line[position] !== '=') fail(`'=' expected after label ${labelName}`);
      position = skipSpaces(line, position + 1);
      if (line[position] !== '"') fail(`quoted value expected for label ${labelName}`);
      const [value, next] = readQuoted(line, position + 1) ?? fail(`unterminated value of label ${labelName}`);
      labels[labelName] = value;
      position = skipSpaces(line, next);
      if (line[position] === ',') position++;
      else if (line[position] !== '}') fail(`',' or '}' expected after label ${labelName}`);
    }
  }
  const [valueText] = line.slice(position).trim().split(/\s+/);
  const value = parseValue(valueText ?? '') ?? fail(`bad value '${valueText ?? ''}'`);
  return { name, labels, value };
}

function skipSpaces(line: string, position: number): number {
  while (line[position] === ' ' || line[position] === '\t') position++;
  return position;
}

/** Reads an escaped label value from just after its opening quote; returns it and the index after the closing quote. */
function readQuoted(line: string, start: number): [string, number] | undefined {
  let value = '';
  for (let position = start; position < line.length; position++) {
    const char = line[position];
    if (char === '"') return [value, position + 1];
    if (char === '\\') {
      const escaped = line[++position];
      value += escaped === 'n' ? '\n' : (escaped ?? '');
    } else {
      value += char;
    }
  }
  return undefined;
}

function parseValue(text: string): number | undefined {
  // As Prometheus reads them (Go's ParseFloat), in any letter case: prom-client writes NaN as 'Nan'.
  if (/^nan$/i.test(text)) return Number.NaN;
  const infinity = /^([-+]?)inf(?:inity)?$/i.exec(text);
  if (infinity) return infinity[1] === '-' ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  if (text === '' || !/^[-+]?[0-9.eE+-]+$/.test(text)) return undefined;
  const value = Number(text);
  return Number.isNaN(value) ? undefined : value;
}
