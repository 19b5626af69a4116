import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { gatewayKeyLine, generateGatewayKey, parseGatewayKeys, withNotAfter } from './util/gateway-keys.ts';
import type { StackConfig } from './stack/config-schema.ts';
import { localGatewayKey, localGatewayKeysFile } from './stack/local-credentials.ts';

/**
 * `gateway-key add` and `gateway-key expire`: the lines of edge.hashedGatewayKeysFile. Rotation:
 * add the new key, hand it to the gateway, then give the old key a not-after time (the overlap
 * during which both work); the bridges reread the file within a second, or at once on SIGHUP.
 */
const isoTime = (value: string): number => {
  const parsed = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?Z$/.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(parsed)) throw new InvalidArgumentError(`expected an ISO 8601 UTC time such as 2026-12-31T23:00:00Z, got '${value}'`);
  return parsed;
};

export function registerGatewayKeyCommands(program: Command, print: (line: string) => void, localStack: () => StackConfig): void {
  const keys = program.command('gateway-key').description('hashed API keys of the HTTP gateways (edge.hashedGatewayKeysFile)');
  keys
    .command('add')
    .description('generate a key: the plaintext is printed once (give it to the gateway), its scrypt line is appended to --file or printed')
    .requiredOption('--gateway <name>', 'gateway name (logs and dead letters name it)')
    .requiredOption('--tenant <tenant>', 'the only tenant the key may write')
    .option('--device-prefix <prefix>', "every reading's device must start with this (default: any device of the tenant)")
    .option('--not-after <time>', 'refuse the key after this ISO 8601 UTC time', isoTime)
    .option('--file <path>', 'append the line to this key file (created with mode 0600)')
    .action((options: { gateway: string; tenant: string; devicePrefix?: string; notAfter?: number; file?: string }) => {
      const { key, keyId } = generateGatewayKey();
      const line = gatewayKeyLine({ gateway: options.gateway, tenant: options.tenant, devicePrefix: options.devicePrefix ?? '', notAfter: options.notAfter ?? null }, key);
      // Refuse a line the bridge would refuse (and with it the whole file) before writing it.
      parseGatewayKeys(line, 'the new line');
      if (options.file !== undefined) {
        const current = existsSync(options.file) ? readFileSync(options.file, 'utf8') : '';
        parseGatewayKeys(`${current}\n${line}`, options.file);
        appendFileSync(options.file, `${current === '' || current.endsWith('\n') ? '' : '\n'}${line}\n`, { mode: 0o600 });
        print(`key id ${keyId} added to ${options.file}`);
      } else {
        print(line);
      }
      print(`key (shown once, not stored): ${key}`);
    });
  keys
    .command('local')
    .description("the local stack's demo gateway key (generated on first use; its bridges get only the hash)")
    .action(() => {
      const stack = localStack();
      const { key, gateway, tenant } = localGatewayKey(stack);
      print(key);
      process.stderr.write(`gateway ${gateway}, tenant ${tenant}; key file ${localGatewayKeysFile(stack)}\n`);
    });
  keys
    .command('expire')
    .description('give a key a not-after time (the end of a rotation\'s overlap); after it the key gets 401 expired-gateway-key')
    .requiredOption('--key-id <id>', 'the key id (second part of tpk_<id>_…, fourth field of its line)')
    .requiredOption('--not-after <time>', 'ISO 8601 UTC time', isoTime)
    .requiredOption('--file <path>', 'the key file')
    .action((options: { keyId: string; notAfter: number; file: string }) => {
      const text = withNotAfter(readFileSync(options.file, 'utf8'), options.keyId, options.notAfter);
      parseGatewayKeys(text, options.file);
      // Replaced whole, so that a bridge never reads half a file.
      const temporary = `${options.file}.${process.pid}.tmp`;
      writeFileSync(temporary, text, { mode: 0o600 });
      renameSync(temporary, options.file);
      print(`key id ${options.keyId} refused after ${new Date(options.notAfter).toISOString()}`);
    });
}
