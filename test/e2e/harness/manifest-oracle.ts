// What kubectl decodes from a manifest, two ways: the manifest oracle (scripts/e2e/manifest-oracle:
// kubectl's own decoding code, run as one long-lived process that answers manifest after manifest),
// and kubectl itself (`kubectl create --dry-run=client`, about 0.2 s a manifest), which the oracle
// is checked against.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ensureBinaries } from './binaries.js';
import type { E2ECluster } from './cluster.js';
import { onExitCleanup } from './processes.js';

/** What kubectl makes of a manifest: the objects it would send, and its error if it fails. */
export interface KubectlDecoding {
  /** Sent even when `error` is set: kubectl goes on past a document it cannot decode. */
  objects: unknown[];
  error?: string;
}

export interface ManifestOracle {
  /** What `kubectl create -f` decodes from a file holding these bytes (text is written as UTF-8). */
  decode(manifest: string | Uint8Array): Promise<KubectlDecoding>;
  stop(): Promise<void>;
}

export async function startManifestOracle(): Promise<ManifestOracle> {
  const { manifestOracle } = await ensureBinaries();
  const child = spawn(manifestOracle, [], { stdio: ['pipe', 'pipe', 'pipe'] });
  const removeCleanup = onExitCleanup(() => child.kill('SIGKILL'));
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));

  // Answers come back one line per manifest, in order.
  const waiting: Array<{ resolve: (decoding: KubectlDecoding) => void; reject: (error: Error) => void }> = [];
  const fail = (why: string) => {
    const error = new Error(`e2e: the manifest oracle ${why}${stderr ? `:\n${stderr}` : ''}`);
    for (const pending of waiting.splice(0)) pending.reject(error);
  };
  createInterface({ input: child.stdout }).on('line', (line) => {
    const pending = waiting.shift();
    if (pending) pending.resolve(JSON.parse(line) as KubectlDecoding);
  });
  child.once('error', (error) => fail(`cannot run: ${error.message}`));
  void exited.then(() => fail('exited'));
  // Writes to a process that has died are reported by its exit; this keeps them from throwing.
  child.stdin.on('error', () => {});

  return {
    decode(manifest) {
      const bytes = typeof manifest === 'string' ? Buffer.from(manifest, 'utf8') : Buffer.from(manifest);
      return new Promise((resolve, reject) => {
        if (child.exitCode !== null || child.signalCode !== null) {
          reject(new Error(`e2e: the manifest oracle has exited${stderr ? `:\n${stderr}` : ''}`));
          return;
        }
        waiting.push({ resolve, reject });
        child.stdin.write(`${JSON.stringify({ base64: bytes.toString('base64') })}\n`);
      });
    },
    async stop() {
      removeCleanup();
      child.stdin.end();
      await exited;
    },
  };
}

/** The values of a stream of JSON texts written one after the other. */
export function jsonStream(text: string): unknown[] {
  const values: unknown[] = [];
  let depth = 0;
  let inString = false;
  let start = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
    } else if (c === '{' || c === '[') {
      if (depth++ === 0) start = i;
    } else if ((c === '}' || c === ']') && --depth === 0) {
      values.push(JSON.parse(text.slice(start, i + 1)));
    }
  }
  return values;
}

let manifestFiles = 0;

/**
 * What `kubectl create --dry-run=client -o json -f FILE` decodes from a file holding the manifest:
 * it sends nothing and prints each object it read, and goes on past a document it cannot decode.
 * No objects at all is kubectl's error "no objects passed to create", reported here as no objects.
 */
export async function kubectlDecode(cluster: E2ECluster, manifest: string | Uint8Array): Promise<KubectlDecoding> {
  const file = join(cluster.workDir, `manifest-${++manifestFiles}.yaml`);
  writeFileSync(file, manifest);
  const result = await cluster.kubectl(['create', '--dry-run=client', '--validate=false', '-o', 'json', '-f', file], { allowFailure: true });
  const objects = jsonStream(result.stdout);
  const error = result.stderr.trim();
  if (result.exitCode === 0 || /^error: no objects passed to create$/.test(error)) return { objects };
  return { objects, error: error || `exit code ${result.exitCode}` };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * An object the oracle decoded, as kubectl sends it: kubectl then gives a namespaced object without
 * a namespace the kubeconfig's (`default` here), and drops the namespace of a cluster-scoped one
 * (cli-runtime's SetNamespace and FilterNamespace, which need the apiserver's REST mapping and so
 * are not the oracle's to do). `namespaced` says which kinds live in a namespace.
 */
export function withKubectlNamespace(object: unknown, namespaced: (group: string, kind: string) => boolean): unknown {
  // A List's items are what kubectl sends; one without items it sends as it is.
  if (!isObject(object) || typeof object.kind !== 'string' || object.kind === 'List') return object;
  const apiVersion = typeof object.apiVersion === 'string' ? object.apiVersion : '';
  const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';
  const metadata = object.metadata;
  if (namespaced(group, object.kind)) {
    if (metadata === undefined) return { ...object, metadata: { namespace: 'default' } };
    if (isObject(metadata) && (typeof metadata.namespace !== 'string' || metadata.namespace === '')) return { ...object, metadata: { ...metadata, namespace: 'default' } };
    return object;
  }
  if (!isObject(metadata) || !('namespace' in metadata)) return object;
  const { namespace: _namespace, ...rest } = metadata;
  return { ...object, metadata: rest };
}
