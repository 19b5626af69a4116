import type { Config } from '../config/schema.ts';
import { DEMO_TENANT } from './device-credentials.ts';
import { LOCAL_MQTT_USERS } from './mosquitto.ts';

/**
 * The local stack's demo credentials: the only place secrets have values in this repository.
 * The schema has no secret defaults; configForLocalStack fills an empty secret from here, and a
 * service the stack tooling starts without a configuration file gets them as environment
 * variables. They are fixed, clearly named development values rather than generated ones because
 * the local Mosquitto, the Compose credentials and the dev overlay share them; never use them
 * anywhere else.
 */
export const LOCAL_GATEWAY_KEYS: Config['edge']['gatewayKeys'] = [{ key: 'demo-gateway-key-0123456789', gateway: 'gw-demo', tenant: DEMO_TENANT }];
export const LOCAL_MQTT_PASSWORD = LOCAL_MQTT_USERS['bridge']!;

/** `config` with every secret left empty filled from the local stack's demo credentials. */
export function withLocalCredentials(config: Config): Config {
  const mqtt = config.mqtt.password === '' ? { ...config.mqtt, password: LOCAL_MQTT_PASSWORD } : config.mqtt;
  const edge = config.edge.gatewayKeys.length === 0 ? { ...config.edge, gatewayKeys: LOCAL_GATEWAY_KEYS } : config.edge;
  return { ...config, mqtt, edge };
}

/**
 * The demo credentials as TP_ variables, for a local service started with environment overrides
 * and no configuration file (a file written from configForLocalStack already holds them).
 */
export function localCredentialsEnv(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  if (env['TP_CONFIG'] !== undefined) return {};
  return {
    ...(env['TP_MQTT__PASSWORD'] === undefined && env['TP_MQTT__PASSWORD_FILE'] === undefined ? { TP_MQTT__PASSWORD: LOCAL_MQTT_PASSWORD } : {}),
    ...(env['TP_EDGE__GATEWAY_KEYS'] === undefined && env['TP_EDGE__GATEWAY_KEYS_FILE'] === undefined ? { TP_EDGE__GATEWAY_KEYS: JSON.stringify(LOCAL_GATEWAY_KEYS) } : {}),
  };
}
