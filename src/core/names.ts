/**
 * Tenant and device names: safe in MQTT topics, Kafka keys, ClickHouse tables and logs. The one rule,
 * used by the validation of readings and by the configuration (a gateway key's tenant), so that
 * nothing can be configured that no reading could carry.
 */
export const NAME_PATTERN_SOURCE = '^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$';
export const NAME_PATTERN = new RegExp(NAME_PATTERN_SOURCE);
