import type { LocalStackConfig } from './config-schema.ts';
import { localTlsFiles } from './tls.ts';

/**
 * TLS in the local stack's configuration (configForLocalStack): unless edge.tls.mode says
 * 'plaintext', the bridges' HTTPS and MQTTS listeners use the local CA's server certificate and
 * accept device certificates of the same CA, and in broker mode the bridges reach the local
 * Mosquitto on its TLS listener. Files an operator configured are kept. The files themselves are
 * made by `stack up` (ensureLocalTls).
 */
export function withLocalTls<T extends LocalStackConfig>(config: T): T {
  if (config.edge.tls.mode === 'plaintext') return config;
  const files = localTlsFiles(config.stack);
  const tls = config.edge.tls;
  const ownCertificate = tls.certFile !== '';
  const edgeTls = {
    ...tls,
    certFile: ownCertificate ? tls.certFile : files.certFile,
    keyFile: ownCertificate || tls.key !== '' ? tls.keyFile : files.keyFile,
    clientCaFile: tls.clientCaFile === '' ? files.caFile : tls.clientCaFile,
  };
  // Only the local stack's own Mosquitto, and only in broker mode: in direct mode mqtt.url is not the devices' way in.
  const localBroker = !config.stack.useExistingMqtt && config.mqtt.mode === 'broker';
  const mqtt = localBroker ? { ...config.mqtt, url: `mqtts://127.0.0.1:${config.stack.mosquittoTlsPort}` } : config.mqtt;
  return {
    ...config,
    mqtt,
    edge: { ...config.edge, tls: localBroker && tls.brokerCaFile === '' ? { ...edgeTls, brokerCaFile: files.caFile } : edgeTls },
  };
}

