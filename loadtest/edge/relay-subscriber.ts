/**
 * The relay's far end (a child process of bench:edge, started by relay-baseline.ts): a bare mqtt.js
 * subscriber with the bridge's session settings (MQTT 5, QoS 1, shared subscription, the bridge's
 * receive maximum) that only counts and acknowledges (mqtt.js sends the PUBACK on receipt).
 * Arguments: <broker url> <share group> <topic filter>; the password comes in TP_BENCH_PASSWORD.
 * Prints `ready` once subscribed, then `received N` every 10 ms.
 */
import mqtt from 'mqtt';
import { loadConfig } from '../../src/config/load.ts';

const [url, group, filter] = process.argv.slice(2);
if (url === undefined || group === undefined || filter === undefined) {
  process.stderr.write('usage: relay-subscriber.ts <broker url> <share group> <topic filter>\n');
  process.exit(2);
}
const config = loadConfig({ env: {} });
const client = mqtt.connect(url, {
  protocolVersion: 5,
  clientId: group,
  username: config.mqtt.username,
  password: process.env['TP_BENCH_PASSWORD'] ?? '',
  clean: true,
  properties: { receiveMaximum: config.mqtt.receiveMaximum },
  log: () => undefined,
} as mqtt.IClientOptions);
let received = 0;
client.on('message', () => {
  received++;
});
await new Promise<void>((resolve) => client.once('connect', () => resolve()));
await client.subscribeAsync(`$share/${group}/${filter}`, { qos: 1 });
process.stdout.write('ready\n');
setInterval(() => process.stdout.write(`received ${received}\n`), 10);
