import { pino, type DestinationStream, type Logger } from 'pino';
import { logRedactor } from '../config/secrets.ts';

export type { Logger };

/**
 * Structured JSON logs on stdout (one object a line), with the service name on every line.
 * Level from the configuration's log.level (TP_LOG__LEVEL), which the caller passes. Every secret the configuration schema marks is censored,
 * at any depth and under whatever key the caller logged it (src/config/secrets.ts logRedactor).
 * `destination` (tests) replaces stdout.
 */
export function createLogger(service: string, level: string = 'info', destination?: DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    name: service,
    level,
    base: { service, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }), log: logRedactor() },
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}
