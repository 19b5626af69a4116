import kafkaJs from '@confluentinc/kafka-javascript';
import type { GlobalConfig } from '@confluentinc/kafka-javascript';
import type { KafkaConfig } from '../config/schema.ts';
import { ConfigError } from '../core/errors.ts';

/**
 * Where a Kafka client connects and how it proves who it is: the brokers and `kafka.security`. Every
 * client of the pipeline (producers, consumers, transactional producers, admin and metadata calls,
 * replay, the advisor's trace reader, the load tests' raw clients) takes this one value and turns it
 * into librdkafka properties here, so that no client can connect another way by forgetting a key.
 * The `kafka` configuration section is one (it has both fields).
 */
export type KafkaConnection = Pick<KafkaConfig, 'brokers' | 'security'>;
export type KafkaSecurity = KafkaConfig['security'];

/** The librdkafka security properties of `security`; a login without a username or password fails here, before any connection. */
export function securityProperties(security: KafkaSecurity): GlobalConfig {
  if (security.protocol === 'plaintext') return { 'security.protocol': 'plaintext' };
  const tls: GlobalConfig = security.caFile === '' ? {} : { 'ssl.ca.location': security.caFile };
  if (security.protocol === 'ssl') return { 'security.protocol': 'ssl', ...tls };
  if (security.username === '' || security.password === '') {
    throw new ConfigError(
      `kafka.security.protocol 'sasl_ssl' needs kafka.security.username and kafka.security.password (TP_KAFKA__SECURITY__PASSWORD or TP_KAFKA__SECURITY__PASSWORD_FILE)${security.username === '' ? '' : `; the password of '${security.username}' is empty`}`,
      { key: security.username === '' ? 'kafka.security.username' : 'kafka.security.password' },
    );
  }
  return {
    'security.protocol': 'sasl_ssl',
    'sasl.mechanisms': security.mechanism,
    'sasl.username': security.username,
    'sasl.password': security.password,
    ...tls,
  };
}

/** Bootstrap brokers and security: the properties every librdkafka client of the pipeline starts from. */
export function connectionProperties(connection: KafkaConnection): GlobalConfig {
  return { 'metadata.broker.list': connection.brokers.join(','), ...securityProperties(connection.security) };
}

/** The brokers as one string, for messages and error context (never the credentials). */
export function brokerList(connection: KafkaConnection): string {
  return connection.brokers.join(',');
}

/**
 * A KafkaJS-compatible client of the connection. librdkafka's own properties sit beside the
 * `kafkaJS` block (the binding merges them), so security is set in one dialect only.
 */
export function kafkaJsClient(connection: KafkaConnection, logLevel: 'error' | 'nothing' = 'error'): InstanceType<typeof kafkaJs.KafkaJS.Kafka> {
  return new kafkaJs.KafkaJS.Kafka({
    kafkaJS: { brokers: [...connection.brokers], logLevel: logLevel === 'error' ? kafkaJs.KafkaJS.logLevel.ERROR : kafkaJs.KafkaJS.logLevel.NOTHING },
    ...securityProperties(connection.security),
  });
}

/** One sentence for `guarantees explain` and the status page: what protects the pipeline's Kafka hops. */
export function kafkaTransportText(security: KafkaSecurity): string {
  switch (security.protocol) {
    case 'plaintext':
      return "Kafka: **plaintext** (kafka.security.protocol 'plaintext') — the bridges, aggregators and tools reach the brokers unencrypted and unauthenticated: anyone on the network can read readings or write into the topics, and the brokers cannot tell one service from another.";
    case 'ssl':
      return "Kafka: **TLS without a login** (kafka.security.protocol 'ssl') — encrypted, but the brokers do not learn which service connects unless the listener checks client certificates.";
    default:
      return `Kafka: **SASL_SSL** (${security.mechanism}) — every connection to the brokers is TLS and logs in as '${security.username}', whose ACLs decide what it may read and write.`;
  }
}
