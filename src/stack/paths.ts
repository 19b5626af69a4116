import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StackConfig } from './config-schema.ts';

/** The repository's root: the folder of package.json above this file. */
export const REPO_ROOT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('package.json not found above src/stack');
    dir = parent;
  }
  return dir;
})();

export function kafkaVersion(): string {
  const pom = readFileSync(join(REPO_ROOT, 'deploy/kafka/pom.xml'), 'utf8');
  const match = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(pom);
  if (!match?.[1]) throw new Error('deploy/kafka/pom.xml names no <kafka.version>');
  return match[1];
}

/** Where deploy/stack/install.sh puts the Kafka jars; shared by every clone on the machine. */
export function kafkaLibDir(): string {
  const cache = process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache');
  return join(cache, 'telemetry-pipeline', `kafka-${kafkaVersion()}`, 'libs');
}

export interface StackPaths {
  readonly dataDir: string;
  readonly runDir: string;
  readonly logDir: string;
}

export function stackPaths(stack: StackConfig): StackPaths {
  const dataDir = isAbsolute(stack.dataDir) ? stack.dataDir : resolve(REPO_ROOT, stack.dataDir);
  return { dataDir, runDir: join(dataDir, 'run'), logDir: join(dataDir, 'logs') };
}
