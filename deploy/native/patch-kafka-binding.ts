/**
 * Gives the installed @confluentinc/kafka-javascript the batch consume the aggregator reads with
 * (`consumeRaw`, decision 0022): applies kafka-javascript-consume-raw.patch to its sources and
 * rebuilds its binding. npm runs it after every install (package.json `postinstall`), and so does
 * deploy/stack/install.sh; when the sources and the binding already have the batch consume it does
 * nothing. It fails, and with it the install, when the patch does not apply: the aggregator cannot
 * start without it, and a silent fallback would hide a 4× slower consumer.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The version the patch was written against: another one needs the patch ported (and this changed). */
const PATCHED_VERSION = '1.10.1';
const PATCH = join(dirname(fileURLToPath(import.meta.url)), 'kafka-javascript-consume-raw.patch');
/** What the patched JavaScript side defines, and what the rebuilt binding exports. */
const JS_MARKER = 'KafkaConsumer.prototype.consumeRaw';
const BINDING_MARKER = 'consumeRaw';

const say = (line: string): void => void process.stdout.write(`[native] ${line}\n`);
const fail = (line: string): never => {
  process.stderr.write(`[native] ${line}\n`);
  process.exit(1);
};

const packageDir = dirname(createRequire(import.meta.url).resolve('@confluentinc/kafka-javascript/package.json'));
const { version } = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { version: string };
if (version !== PATCHED_VERSION) {
  fail(`@confluentinc/kafka-javascript ${version} is installed, the consumeRaw patch is for ${PATCHED_VERSION}: port ${PATCH} and PATCHED_VERSION, or install ${PATCHED_VERSION}`);
}

const consumerSource = join(packageDir, 'lib', 'kafka-consumer.js');
if (!readFileSync(consumerSource, 'utf8').includes(JS_MARKER)) {
  try {
    execFileSync('patch', ['-p1', '--forward', '--batch', '-d', packageDir, '-i', PATCH], { stdio: 'pipe' });
  } catch (error) {
    const output = error instanceof Error && 'stdout' in error ? String((error as { stdout: unknown }).stdout) : String(error);
    fail(`the consumeRaw patch did not apply to ${packageDir} (is GNU patch installed?):\n${output}`);
  }
  say(`patched @confluentinc/kafka-javascript ${version} with the batch consume (consumeRaw)`);
}

const binding = join(packageDir, 'build', 'Release', 'confluent-kafka-javascript.node');
if (existsSync(binding) && readFileSync(binding).includes(BINDING_MARKER)) {
  say('the Kafka binding has the batch consume');
} else {
  // npm names its node-gyp to lifecycle scripts; run by hand, npm's own copy next to node serves.
  const nodeGyp = process.env['npm_config_node_gyp'] ?? join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (!existsSync(nodeGyp)) fail(`node-gyp not found at ${nodeGyp}: run this through npm (npm rebuild), which names its own`);
  // A binding built here has its Makefile (configured with the install's CKJS_LINKING); a downloaded one does not.
  const command = existsSync(join(packageDir, 'build', 'Makefile')) ? 'build' : 'rebuild';
  const started = Date.now();
  say(`rebuilding the Kafka binding with the batch consume (node-gyp ${command})`);
  try {
    execFileSync(process.execPath, [nodeGyp, command, '--jobs=max'], { cwd: packageDir, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    const output = error instanceof Error && 'stderr' in error ? String((error as { stderr: unknown }).stderr).slice(-4000) : String(error);
    fail(`rebuilding the Kafka binding failed:\n${output}`);
  }
  if (!readFileSync(binding).includes(BINDING_MARKER)) fail(`${binding} was rebuilt but has no consumeRaw`);
  say(`rebuilt in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}
