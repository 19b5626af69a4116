import type { ValidationConfig } from '../config/schema.ts';
import type { Reading } from '../core/readings.ts';
import { validateGatewayBody } from '../core/validation.ts';
import type { LineRefusal, SourceLine } from './parse.ts';

/**
 * The file's lines through the HTTP intake's validator, as NDJSON bodies of at most
 * maxReadingsPerMessage lines and maxBodyBytes bytes: each reading is judged exactly as a gateway's
 * would be, and each refusal keeps the intake's reason, mapped back to its line. Pure.
 */
export interface ValidatedFile {
  /** Valid readings, with the line each came from. */
  readonly readings: Reading[];
  readonly lines: number[];
  readonly refusals: LineRefusal[];
}

export function validateLines(
  lines: readonly SourceLine[],
  tenant: string,
  ingestTime: number,
  config: ValidationConfig,
  maxBodyBytes: number,
): ValidatedFile {
  const readings: Reading[] = [];
  const readingLines: number[] = [];
  const refusals: LineRefusal[] = [];
  let chunk: SourceLine[] = [];
  let bytes = 0;
  const validateChunk = (): void => {
    if (chunk.length === 0) return;
    const body = Buffer.from(chunk.map((line) => line.json).join('\n'), 'utf8');
    const result = validateGatewayBody(body, 'ndjson', tenant, ingestTime, config, maxBodyBytes);
    // Blank lines never reach a chunk, so the validator's index is the chunk's index.
    const valid = new Set(chunk.map((_, index) => index));
    for (const rejection of result.rejections) {
      if (rejection.index === null) {
        for (const line of chunk) refusals.push({ line: line.line, reason: rejection.reason, detail: rejection.detail });
        valid.clear();
        break;
      }
      valid.delete(rejection.index);
      refusals.push({ line: chunk[rejection.index]!.line, reason: rejection.reason, detail: rejection.detail });
    }
    // The validator returns the valid readings in order: pair them with the lines that were not refused.
    const validLines = [...valid].sort((a, b) => a - b);
    result.readings.forEach((reading, at) => {
      readings.push(reading);
      readingLines.push(chunk[validLines[at]!]!.line);
    });
    chunk = [];
    bytes = 0;
  };
  for (const line of lines) {
    const size = Buffer.byteLength(line.json, 'utf8') + 1;
    if (chunk.length >= config.maxReadingsPerMessage || (chunk.length > 0 && bytes + size > maxBodyBytes)) validateChunk();
    chunk.push(line);
    bytes += size;
  }
  validateChunk();
  refusals.sort((a, b) => a.line - b.line);
  return { readings, lines: readingLines, refusals };
}
