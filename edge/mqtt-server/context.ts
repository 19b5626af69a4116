import type { EdgeConfig, MqttListenConfig, ValidationConfig } from '../../src/config/schema.ts';
import type { CodecRouter } from '../../src/core/codecs/codec.ts';
import type { Logger } from '../../src/util/log.ts';
import type { SparkplugHost } from '../codecs/sparkplug-host.ts';
import type { EdgeMetrics } from '../metrics.ts';
import type { ReadingPublisher } from '../publisher.ts';
import type { ClientConnection, Session } from './connection.ts';
import type { CredentialStore } from './credentials.ts';
import type { DirectMetrics } from './metrics.ts';
import type { Wills } from './wills.ts';

/** What the packet handlers share: the endpoint's settings, its registries and its way to Kafka. */
export interface EndpointContext {
  readonly listen: MqttListenConfig;
  readonly topicPrefix: string;
  /** mqtt.codecs: which codec reads a topic's payloads (JSON on `<topicPrefix>/+/+` last). */
  readonly codecs: CodecRouter;
  /** Rebirth requests and presence of Sparkplug nodes; undefined without a Sparkplug rule. */
  readonly sparkplug: SparkplugHost | undefined;
  readonly validation: ValidationConfig;
  readonly ackMode: EdgeConfig['ackMode'];
  readonly publisher: ReadingPublisher;
  readonly edgeMetrics: EdgeMetrics;
  readonly metrics: DirectMetrics;
  readonly credentials: CredentialStore;
  /** Open, connected connections by client id (a second CONNECT with the same id takes over). */
  readonly clients: Map<string, ClientConnection>;
  readonly sessions: Map<string, Session>;
  /** Wills of ended connections, published now or after their delay. */
  readonly wills: Wills;
  /** Every open socket, connected or not (the connection cap counts them). */
  readonly sockets: Set<ClientConnection>;
  readonly logger: Logger;
  readonly now: () => number;
  /** True once the bridge stops: no new CONNECT is accepted. */
  readonly stopping: () => boolean;
}
