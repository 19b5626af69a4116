import { InvalidArgumentError, type Command } from 'commander';
import type { StackConfig } from './config-schema.ts';
import { localClickhouseSecretsFile, localSecrets } from './local-credentials.ts';

const ROLES = ['reader', 'ingest', 'admin'] as const;
type Role = (typeof ROLES)[number];

/**
 * `stack clickhouse-password [--role reader]`: the local stack's generated password of one
 * ClickHouse role, for clickhouse-client and dashboards on this machine. Printed only on request,
 * never logged; 'default' has a random password nobody holds.
 */
export function registerCredentialCommands(stack: Command, stackConfig: () => StackConfig, print: (line: string) => void): void {
  stack
    .command('clickhouse-password')
    .description("the local stack's ClickHouse password of a role (reader: read-only, for queries and dashboards)")
    .option('--role <role>', `one of ${ROLES.join(', ')}`, (value: string): Role => {
      if (!(ROLES as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected one of ${ROLES.join(', ')}, got '${value}'`);
      return value as Role;
    }, 'reader' as Role)
    .action((options: { role: Role }) => {
      const config = stackConfig();
      print(localSecrets(config).clickhouse[options.role]);
      process.stderr.write(`user ${options.role}; passwords kept in ${localClickhouseSecretsFile(config)}\n`);
    });
}
