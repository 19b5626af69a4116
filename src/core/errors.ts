/**
 * One error type for the whole pipeline. `code` is stable (alerts, tests and docs key on it),
 * `retriable` tells the retry helper whether trying again can help, and `context` carries the
 * coordinates an operator needs (topic, partition, device, window, key name, ...).
 */
export type ErrorContext = Readonly<Record<string, string | number | boolean | null | undefined>>;

export class PipelineError extends Error {
  readonly code: string;
  readonly retriable: boolean;
  readonly context: ErrorContext;

  constructor(
    code: string,
    message: string,
    options: { retriable?: boolean; context?: ErrorContext; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PipelineError';
    this.code = code;
    this.retriable = options.retriable ?? false;
    this.context = options.context ?? {};
  }

  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      retriable: this.retriable,
      context: this.context,
      cause: this.cause instanceof Error ? this.cause.message : this.cause,
    };
  }
}

/** Configuration is wrong: the message names the key, the value and what is expected. */
export class ConfigError extends PipelineError {
  constructor(message: string, context: ErrorContext = {}) {
    super('CONFIG_INVALID', message, { retriable: false, context });
    this.name = 'ConfigError';
  }
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
