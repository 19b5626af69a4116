import { InvalidArgumentError, type Command } from 'commander';
import type { LocalStackConfig } from './config-schema.ts';
import { issueDeviceCertificate, localTlsFiles } from './tls.ts';

/**
 * `stack device-cert --tenant <t> --device <d> [--days n]`: a client certificate of the local CA for
 * one device (subject CN=<device>, O=<tenant>), with which the device logs in to the local bridges'
 * MQTTS endpoint without a password and may publish only on telemetry/<tenant>/<device>.
 */
export function registerTlsCommands(stack: Command, stackConfig: () => LocalStackConfig, print: (line: string) => void): void {
  stack
    .command('device-cert')
    .description("issue a device client certificate of the local CA (CN=<device>, O=<tenant>) for MQTT over TLS to the bridges")
    .requiredOption('--tenant <tenant>', 'the tenant the device belongs to (the O of the subject)')
    .requiredOption('--device <device>', 'the device name (the CN of the subject)')
    .option('--days <n>', 'days of validity', (value: string) => {
      const days = Number(value);
      if (!Number.isInteger(days) || days < 1 || days > 3650) throw new InvalidArgumentError(`expected a whole number of days from 1 to 3650, got '${value}'`);
      return days;
    }, 365)
    .action((options: { tenant: string; device: string; days: number }) => {
      const config = stackConfig();
      const certificate = issueDeviceCertificate(config.stack, { tenant: options.tenant, device: options.device, days: options.days });
      const port = config.mqtt.listen.port;
      print(`certificate ${certificate.certFile}`);
      print(`key         ${certificate.keyFile}`);
      print(`CA          ${localTlsFiles(config.stack).caFile}`);
      print(
        `publish with: mosquitto_pub -h 127.0.0.1 -p ${port} --cafile ${localTlsFiles(config.stack).caFile} --cert ${certificate.certFile} --key ${certificate.keyFile} ` +
          `-V mqttv5 -q 1 -t telemetry/${options.tenant}/${options.device} -m '{"id":"1","ts":${Date.now()},"metrics":{"temperature":21.5}}'`,
      );
    });
}
