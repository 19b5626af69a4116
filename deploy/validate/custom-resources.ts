import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { parseCommandLine } from '../../src/util/args.ts';

/**
 * Validates the prometheus-operator custom resources (ServiceMonitor, PrometheusRule) of rendered
 * manifests against the operator's CRD schemas, as compiled into @kubernetes-models/prometheus-operator
 * (installed by deploy/validate.sh into its cache, outside the project's dependencies):
 *
 *   node --import tsx deploy/validate/custom-resources.ts --models <dir> --name <label> --file <file>
 *
 * The Kubernetes core kinds are validated by manifests.py; any other custom kind is an error here,
 * so nothing passes unvalidated. Prints one line per resource and exits 1 on any failure.
 */
const GROUP = 'monitoring.coreos.com/v1';
const KINDS = new Set(['ServiceMonitor', 'PrometheusRule']);

interface ModelClass {
  new (data: unknown): { validate(): void };
}

const args = parseCommandLine('custom-resources', process.argv.slice(2), { models: { type: 'string' }, name: { type: 'string' }, file: { type: 'string' } });
function argument(name: 'models' | 'name' | 'file'): string {
  const value = args[name];
  if (!value) throw new Error(`missing --${name}`);
  return value;
}

async function loadModel(modelsDir: string, kind: string): Promise<ModelClass> {
  const file = join(modelsDir, 'node_modules/@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1', `${kind}.js`);
  const module = (await import(pathToFileURL(file).href)) as Record<string, ModelClass | undefined>;
  const model = module[kind];
  if (!model) throw new Error(`${file} exports no ${kind}`);
  return model;
}

async function main(): Promise<number> {
  const modelsDir = argument('models');
  const label = argument('name');
  const file = argument('file');
  let failures = 0;
  let checked = 0;
  for (const document of parseAllDocuments(readFileSync(file, 'utf8'))) {
    const resource = document.toJS() as { apiVersion?: string; kind?: string; metadata?: { name?: string } } | null;
    if (!resource?.apiVersion?.includes('.') || !resource.apiVersion.includes('/')) continue; // core kinds: manifests.py
    if (/^[a-z0-9.-]+\.k8s\.io\//.test(resource.apiVersion)) continue; // built-in API groups: manifests.py
    const what = `${label}: ${resource.kind}/${resource.metadata?.name ?? '?'}`;
    if (resource.apiVersion !== GROUP || !resource.kind || !KINDS.has(resource.kind)) {
      failures++;
      process.stdout.write(`FAIL  ${what}: no schema for ${resource.apiVersion} ${resource.kind}\n`);
      continue;
    }
    try {
      new (await loadModel(modelsDir, resource.kind))(resource).validate();
      checked++;
      process.stdout.write(`ok    ${what} (prometheus-operator CRD schema)\n`);
    } catch (error) {
      failures++;
      process.stdout.write(`FAIL  ${what}: ${error instanceof Error ? error.message : String(error)}\n`);
    }
  }
  if (checked === 0 && failures === 0) process.stdout.write(`ok    ${label}: no custom resources\n`);
  return failures > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`custom-resources: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 2;
  },
);
