import { pathToFileURL } from 'node:url';
import { subcommands } from './cli-commands.ts';

/**
 * Run by docs/tools/cli.ts in a child process: prints, as one JSON line, commander's help of every
 * command of src/cli.ts. src/cli.ts parses process.argv when it is loaded and `--help` ends in
 * process.exit, so each page loads it afresh (a query string makes a new module instance) with
 * argv set, output captured and exit turned into a throw; one process instead of one per page.
 */
const CLI = pathToFileURL(new URL('../../src/cli.ts', import.meta.url).pathname).href;

const stdoutWrite = process.stdout.write.bind(process.stdout);
const stderrWrite = process.stderr.write.bind(process.stderr);
const exit = process.exit.bind(process);
let loads = 0;

async function helpOf(path: readonly string[]): Promise<string> {
  let text = '';
  process.stdout.write = ((chunk: string | Uint8Array) => {
    text += String(chunk);
    return true;
  }) as typeof process.stdout.write;
  // cli.ts reports the throw below as an error; it is the expected end of --help.
  process.stderr.write = (() => true) as typeof process.stderr.write;
  process.exit = ((code?: number) => {
    throw new Error(`help exited with ${String(code)}`);
  }) as typeof process.exit;
  process.argv = [process.argv[0]!, 'src/cli.ts', ...path, '--help'];
  try {
    await import(`${CLI}?help=${loads++}`);
    // cli.ts handles the rejected parse in a promise callback: let it run before restoring.
    await new Promise((resolve) => setTimeout(resolve, 0));
  } finally {
    process.stdout.write = stdoutWrite;
    process.stderr.write = stderrWrite;
    process.exit = exit;
  }
  return text.trimEnd();
}

const pages: Array<{ path: readonly string[]; help: string }> = [];
const queue: Array<readonly string[]> = [[]];
for (let path = queue.shift(); path !== undefined; path = queue.shift()) {
  const help = await helpOf(path);
  pages.push({ path, help });
  for (const name of subcommands(help)) queue.push([...path, name]);
}
process.exitCode = 0;
stdoutWrite(`${JSON.stringify(pages)}\n`);
