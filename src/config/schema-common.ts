import { Type } from '@sinclair/typebox';

/** Building blocks shared by the configuration schema's sections. */

export const HostPort = Type.String({ pattern: '^[^\\s:]+:[0-9]{1,5}$', description: "'host:port'" });
export const Millis = (defaultValue: number, description: string, minimum = 0) =>
  Type.Integer({ minimum, default: defaultValue, description: `${description} (milliseconds)` });
export const Strict = { additionalProperties: false } as const;

/**
 * The schema keyword that marks a secret. Everything that shows configuration asks the schema
 * (src/config/secrets.ts): validation messages, log lines, `config`'s output, rendered manifests
 * and the reference page never carry a secret's value, and no call site decides that on its own.
 */
export const SECRET_MARK = 'secret';

/**
 * A secret string: set from the environment (`TP_<KEY>`) or from a file (`TP_<KEY>_FILE`, e.g. a
 * mounted Kubernetes Secret). No default but '' (none): demo credentials belong to the local stack.
 */
export function Secret(options: { readonly description: string; readonly minLength?: number; readonly required?: boolean }) {
  const { required, ...rest } = options;
  return Type.String({ ...rest, [SECRET_MARK]: true, ...(required ? {} : { default: '' }) });
}
