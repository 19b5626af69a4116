/**
 * The worker processes of an aggregator service (aggregator.instances > 1), read from its /status:
 * the service's own process runs no pipeline, so the run's CPU and memory figures must count the
 * workers. A service of one process (or one not answering) gives none.
 */
export async function aggregatorWorkerPids(port: number): Promise<{ worker: number; pid: number }[]> {
  const response = await fetch(`http://127.0.0.1:${port}/status`).catch(() => null);
  if (!response?.ok) return [];
  const status = (await response.json().catch(() => null)) as { workers?: { worker?: unknown; pid?: unknown }[] } | null;
  return (status?.workers ?? []).flatMap((entry) =>
    typeof entry.worker === 'number' && typeof entry.pid === 'number' ? [{ worker: entry.worker, pid: entry.pid }] : [],
  );
}
