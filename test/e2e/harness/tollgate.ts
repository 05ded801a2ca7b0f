// tollgate under the e2e control plane: the BUILT CLI (`dist/`) makes its certificates and serves on
// loopback, and the webhook configurations are the ones in manifests/, pointed at it by URL.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:tls';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { loopback, type E2ECluster } from './cluster.js';
import { startProcess, type ManagedProcess } from './processes.js';

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const tollgateBin = join(repoRoot, 'dist', 'src', 'cli', 'bin.js');
export const manifestsDir = join(repoRoot, 'manifests');

/** How long the built server gets to log that it is serving. */
export const tollgateReadyTimeoutMs = 20_000;
/** How long the apiserver gets to pick up a change to webhook configurations (it watches them). */
export const webhookPickupTimeoutMs = 30_000;
const pollMs = 200;

const run = promisify(execFile);

function requireBuild(): void {
  if (!existsSync(tollgateBin)) {
    throw new Error(`e2e: ${tollgateBin} is missing; run \`npm run build\` (npm run test:e2e does it)`);
  }
}

export interface TollgateCertificates {
  dir: string;
  caFile: string;
  caPem: string;
  certFile: string;
  keyFile: string;
  /** What the webhook configurations' caBundle carries (base64 of ca-bundle.crt). */
  caBundle: string;
}

/** `tollgate certs --out DIR --dns localhost --ip 127.0.0.1`: the CA and serving certificate, as a user makes them. */
export async function bootstrapCertificates(dir: string): Promise<TollgateCertificates> {
  requireBuild();
  await run(process.execPath, [tollgateBin, 'certs', '--out', dir, '--dns', 'localhost', '--ip', loopback], {
    cwd: repoRoot,
    timeout: 30_000,
  });
  const caPem = readFileSync(join(dir, 'ca.crt'), 'utf8');
  return {
    dir,
    caFile: join(dir, 'ca.crt'),
    caPem,
    certFile: join(dir, 'tls.crt'),
    keyFile: join(dir, 'tls.key'),
    caBundle: readFileSync(join(dir, 'ca-bundle.crt')).toString('base64'),
  };
}

export interface TollgateOptions {
  /** Where the config file and the log go. */
  workDir: string;
  /** The policy config, YAML. */
  config: string;
  certFile: string;
  keyFile: string;
  extraArgs?: readonly string[];
}

export interface RunningTollgate {
  /** `https://127.0.0.1:<port>` as logged by the server. */
  url: string;
  port: number;
  process: ManagedProcess;
  /** The server's JSON log lines so far. */
  logLines(): Array<Record<string, unknown>>;
  stop(): Promise<void>;
}

/** `node dist/src/cli/bin.js serve` on 127.0.0.1, port 0; resolves once it logs that it is serving. */
export async function startTollgate(options: TollgateOptions): Promise<RunningTollgate> {
  requireBuild();
  const configFile = join(options.workDir, 'tollgate.yaml');
  const logFile = join(options.workDir, 'tollgate.log');
  writeFileSync(configFile, options.config);
  const child = startProcess(
    'tollgate',
    process.execPath,
    [
      tollgateBin,
      'serve',
      `--config=${configFile}`,
      `--host=${loopback}`,
      '--port=0',
      `--cert=${options.certFile}`,
      `--key=${options.keyFile}`,
      // ManagedProcess.stop() kills after 5 s; nothing in the suite needs the drain.
      '--drain-seconds=0',
      ...(options.extraArgs ?? []),
    ],
    { logFile, cwd: options.workDir },
  );
  const logLines = () => parseLogLines(logFile);
  const deadline = Date.now() + tollgateReadyTimeoutMs;
  let url: string | undefined;
  while (url === undefined) {
    if (child.hasExited()) {
      throw new Error(`e2e: tollgate exited (${await child.exited}) before serving; its log ends:\n${child.logTail()}`);
    }
    if (Date.now() > deadline) {
      await child.stop();
      throw new Error(`e2e: tollgate did not serve within ${tollgateReadyTimeoutMs} ms; its log ends:\n${child.logTail()}`);
    }
    const serving = logLines().find((line) => line['msg'] === 'tollgate is serving');
    if (typeof serving?.['url'] === 'string') url = serving['url'];
    else await sleep(pollMs);
  }
  return { url, port: Number(new URL(url).port), process: child, logLines, stop: () => child.stop() };
}

function parseLogLines(file: string): Array<Record<string, unknown>> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const lines: Array<Record<string, unknown>> = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // A line still being written.
    }
  }
  return lines;
}

export type WebhookConfiguration = {
  apiVersion: string;
  kind: 'MutatingWebhookConfiguration' | 'ValidatingWebhookConfiguration';
  metadata: { name: string; [key: string]: unknown };
  webhooks: Array<{ name: string; clientConfig: Record<string, unknown>; [key: string]: unknown }>;
};

/** Every document of the YAML files directly in `dir` (kustomization.yaml left out), as plain data. */
export function readManifests(dir = manifestsDir): Array<Record<string, unknown>> {
  const documents: Array<Record<string, unknown>> = [];
  for (const name of readdirSync(dir).sort()) {
    if (!/\.ya?ml$/.test(name) || name === 'kustomization.yaml') continue;
    for (const document of parseAllDocuments(readFileSync(join(dir, name), 'utf8'))) {
      if (document.errors.length > 0) throw new Error(`e2e: ${name}: ${document.errors[0]!.message}`);
      const value: unknown = document.toJS();
      if (value !== null && typeof value === 'object') documents.push(value as Record<string, unknown>);
    }
  }
  return documents;
}

/**
 * The webhook configurations shipped in manifests/, with each `clientConfig.service` replaced by a
 * URL on `baseUrl` (same path) and the caBundle set; rules, selectors, match conditions, failure
 * policies and time-outs stay as shipped.
 */
export function webhookConfigurationsFromManifests(baseUrl: string, caBundle: string, dir = manifestsDir): WebhookConfiguration[] {
  const configurations = readManifests(dir).filter(
    (doc): doc is WebhookConfiguration =>
      doc['kind'] === 'MutatingWebhookConfiguration' || doc['kind'] === 'ValidatingWebhookConfiguration',
  );
  if (configurations.length === 0) throw new Error(`e2e: no webhook configurations in ${dir}`);
  return configurations.map((configuration) => ({
    ...configuration,
    webhooks: configuration.webhooks.map((webhook) => {
      const service = webhook.clientConfig['service'] as { path?: string } | undefined;
      if (service === undefined) throw new Error(`e2e: webhook ${webhook.name} has no clientConfig.service`);
      return { ...webhook, clientConfig: { url: `${baseUrl}${service.path ?? '/'}`, caBundle } };
    }),
  }));
}

/** `kubectl apply` of the given objects, as one List. */
export async function kubectlApply(cluster: E2ECluster, objects: readonly object[], args: readonly string[] = []) {
  return cluster.kubectl(['apply', '-f', '-', ...args], {
    input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }),
  });
}

/** Polls `check` until it returns true; fails with `what` after `timeoutMs`. */
export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = webhookPickupTimeoutMs): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (error) {
      lastError = error;
    }
    await sleep(pollMs);
  }
  throw new Error(`e2e: timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
}

/** The SHA-256 fingerprint (openssl's colon-separated hex) of the certificate a TLS server presents now. */
export function servedFingerprint(url: string, caPem: string, servername = 'localhost'): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), ca: caPem, servername, timeout: 5_000 }, () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      socket.end();
      resolve(fingerprint);
    });
    socket.once('error', reject);
    socket.once('timeout', () => socket.destroy(new Error(`e2e: no TLS handshake with ${url} within 5 s`)));
  });
}

/**
 * The client ports of the established TCP connections to 127.0.0.1:`port` (Linux, /proc/net/tcp):
 * a port missing from an earlier snapshot is a connection, and a TLS handshake, made since.
 */
export function establishedClientPorts(port: number): Set<number> {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const ports = new Set<number>();
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const [, localAddress, remoteAddress, state] = line.trim().split(/\s+/);
    if (localAddress === local && state === '01' && remoteAddress) ports.add(parseInt(remoteAddress.split(':')[1]!, 16));
  }
  return ports;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
