import { execFile } from 'node:child_process';
import { REPO_ROOT } from '../../src/stack/paths.ts';

/** `npm run cli -- <args>` with a configuration file, as an operator runs it: exit code and output. */
export function runCli(configFile: string, args: readonly string[], timeoutMs = 120_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli.ts', '-c', configFile, ...args],
      { cwd: REPO_ROOT, timeout: timeoutMs, env: { ...process.env, TP_LOG__LEVEL: 'warn' }, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr }),
    );
  });
}
