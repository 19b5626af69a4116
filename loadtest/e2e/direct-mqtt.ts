import { join } from 'node:path';
import type { Config } from '../../src/config/schema.ts';
import { writeCredentialFile } from '../../src/stack/device-credentials.ts';

/**
 * A run's devices connect to the bridge itself (mqtt.mode 'direct'): its MQTT port, and a
 * credential file whose one gateway account, the fleet's, may publish for every device of the
 * run's tenant and no other.
 */
export const FLEET_ACCOUNT = { username: 'fleet', password: 'fleet-secret' } as const;

export function directMqttSettings(runDir: string, tenant: string, port: number): { mode: 'direct'; listen: { port: number }; credentialsFile: string } {
  const credentialsFile = join(runDir, 'device-credentials');
  writeCredentialFile(credentialsFile, [{ ...FLEET_ACCOUNT, tenant, device: '*' }]);
  return { mode: 'direct', listen: { port }, credentialsFile };
}

/**
 * Where the fleet connects: the bridge in direct mode (mqtts:// unless edge.tls.mode is
 * 'plaintext'), the broker otherwise (the local stack's mqtt.url is its TLS listener then).
 */
export function fleetUrl(config: Config): string {
  if (config.mqtt.mode === 'broker') return config.mqtt.url;
  const host = config.mqtt.listen.host === '0.0.0.0' ? '127.0.0.1' : config.mqtt.listen.host;
  return `${config.edge.tls.mode === 'plaintext' ? 'mqtt' : 'mqtts'}://${host}:${config.mqtt.listen.port}`;
}
