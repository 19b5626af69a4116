import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/**
 * docs/reference/cli.md: commander's own help of every command of src/cli.ts, collected by running
 * docs/tools/cli-help.ts in a child process. Help is wrapped at 80 columns when stdout is not a
 * terminal, as there.
 */
export const CLI_PAGE = 'docs/reference/cli.md';

const run = promisify(execFile);

export { subcommands } from './cli-commands.ts';

async function helpPages(root: string): Promise<Array<{ path: readonly string[]; help: string }>> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('TP_')));
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'docs/tools/cli-help.ts'], { cwd: root, env, maxBuffer: 16 * 1024 * 1024 });
  return JSON.parse(stdout) as Array<{ path: readonly string[]; help: string }>;
}

export async function cliReferencePage(root: string): Promise<string> {
  const pages = await helpPages(root);
  pages.sort((a, b) => a.path.join(' ').localeCompare(b.path.join(' ')));
  const sections = pages.map(({ path, help }) => {
    const title = path.length === 0 ? '`npm run cli -- --help`' : `\`npm run cli -- ${path.join(' ')}\``;
    return `## ${title}\n\n\`\`\`text\n${help}\n\`\`\``;
  });
  return [
    '# CLI reference',
    '',
    '<!-- Generated from the help of src/cli.ts by docs/tools/cli.ts (node --import tsx docs/render.ts); do not edit by hand. -->',
    '',
    'One command-line entry, `npm run cli -- <command>` (`node --import tsx src/cli.ts`). Every command',
    'reads the configuration from `--config <file>` or `TP_CONFIG` (see the',
    '[configuration reference](configuration.md)); options go after the command name. The services',
    'themselves start with `npm run bridge` and `npm run aggregator` (both take `--config <file>`).',
    '',
    ...sections.flatMap((section) => [section, '']),
  ].join('\n');
}
