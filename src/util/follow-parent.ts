import type { Logger } from './log.ts';

/**
 * A service started with an IPC channel (by a supervising aggregator, or by src/stack/services.ts
 * for tests and benchmarks) follows the process that started it: when the channel closes that
 * process is gone — even by SIGKILL or a crash, where no exit handler of its runs — and the service
 * exits too, without a flush, as after a crash of its own, rather than run on unwatched. Returns
 * whether the process has such a parent. Started any other way (a container, a shell) it has none.
 */
export function followParent(logger: Logger, service: string): boolean {
  if (typeof process.send !== 'function') return false;
  process.on('disconnect', () => {
    logger.warn(`the process that started this ${service} is gone; exiting`);
    process.exit(1);
  });
  return true;
}
