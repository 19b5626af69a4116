import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs on stdout (one object a line), with the service name on every line.
 * Level from LOG_LEVEL (default info). Secrets are redacted by key name wherever they appear.
 */
export function createLogger(service: string, level: string = process.env['LOG_LEVEL'] ?? 'info'): Logger {
  return pino({
    name: service,
    level,
    base: { service, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['*.password', '*.apiKey', '*.apiKeys', 'password', 'apiKey'], censor: '[secret]' },
    formatters: { level: (label) => ({ level: label }) },
  });
}
