// A real control plane for the e2e suite: etcd and kube-apiserver on loopback, with their own
// certificates and an admin token, torn down with everything they started.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { KubeConfig } from '@kubernetes/client-node';
import { ensureBinaries } from './binaries.js';
import { createCertificateAuthority, generateKeyPair } from './pki.js';
import { onExitCleanup, startProcess, type ManagedProcess } from './processes.js';

/** How long etcd and then kube-apiserver get to become ready (the apiserver takes ~10-20 s). */
export const etcdReadyTimeoutMs = 30_000;
export const apiserverReadyTimeoutMs = 90_000;
const readyPollMs = 250;

/** The loopback address every server of the suite listens on. */
export const loopback = '127.0.0.1';

export interface ClusterOptions {
  /** Appended to kube-apiserver's flags (a later flag wins over an earlier one). */
  apiserverArgs?: readonly string[];
}

export interface KubectlResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface E2ECluster {
  /** `https://127.0.0.1:<port>` */
  server: string;
  /** A kubeconfig for kubectl and client-node, as the admin (group system:masters). */
  kubeconfigPath: string;
  /** The CA that signed the apiserver's serving cert. */
  caPem: string;
  /** The admin's bearer token. */
  token: string;
  /** The run's temp directory: certs, etcd data, logs (kept if TOLLGATE_E2E_KEEP=1). */
  workDir: string;
  etcd: ManagedProcess;
  apiserver: ManagedProcess;
  /** A client-node KubeConfig loaded from `kubeconfigPath`. */
  kubeConfig(): KubeConfig;
  /** Runs kubectl against the cluster; rejects on a non-zero exit unless `allowFailure`. */
  kubectl(args: readonly string[], options?: { input?: string; allowFailure?: boolean }): Promise<KubectlResult>;
  /** Stops kube-apiserver then etcd and removes `workDir`; safe to call twice. */
  stop(): Promise<void>;
}

/** A port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, loopback, () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null
          ? resolve(address.port)
          : reject(new Error('e2e: no port was assigned')),
      );
    });
  });
}

/** Starts etcd and kube-apiserver, waits for /readyz and writes a kubeconfig. */
export async function startCluster(options: ClusterOptions = {}): Promise<E2ECluster> {
  const binaries = await ensureBinaries();
  removeAbandonedWorkDirs();
  const workDir = mkdtempSync(join(tmpdir(), workDirPrefix));
  writeFileSync(join(workDir, ownerFile), String(process.pid));
  const keep = process.env['TOLLGATE_E2E_KEEP'] === '1';
  const removeWorkDir = () => {
    if (!keep) rmSync(workDir, { recursive: true, force: true, maxRetries: 3 });
  };
  const forgetCleanup = onExitCleanup(removeWorkDir);
  const started: ManagedProcess[] = [];
  const stopAll = async () => {
    for (const child of started.reverse()) await child.stop();
    started.length = 0;
    removeWorkDir();
    forgetCleanup();
  };

  try {
    const env = childEnv();
    const [etcdClientPort, etcdPeerPort, apiserverPort] = await distinctFreePorts(3);
    const etcdUrl = `http://${loopback}:${etcdClientPort}`;
    const peerUrl = `http://${loopback}:${etcdPeerPort}`;
    const etcd = startProcess(
      'etcd',
      binaries.etcd,
      [
        '--name=e2e',
        `--data-dir=${join(workDir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=e2e=${peerUrl}`,
        '--log-level=warn',
        // A throwaway store: fsync only slows the suite down.
        '--unsafe-no-fsync',
      ],
      { logFile: join(workDir, 'etcd.log'), env },
    );
    started.push(etcd);
    await waitUntil('etcd', etcd, etcdReadyTimeoutMs, () => httpOk(`${etcdUrl}/health`));

    const ca = createCertificateAuthority();
    const serving = ca.issue({
      commonName: 'kube-apiserver',
      usage: 'server',
      dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc'],
      ipAddresses: [loopback, '10.0.0.1'],
    });
    const serviceAccountKeys = generateKeyPair();
    const token = randomBytes(24).toString('hex');
    const files = {
      ca: join(workDir, 'ca.crt'),
      cert: join(workDir, 'apiserver.crt'),
      key: join(workDir, 'apiserver.key'),
      saKey: join(workDir, 'sa.key'),
      saPub: join(workDir, 'sa.pub'),
      tokens: join(workDir, 'tokens.csv'),
      kubeconfig: join(workDir, 'kubeconfig'),
    };
    writeFileSync(files.ca, ca.certPem);
    writeFileSync(files.cert, serving.certPem);
    writeFileSync(files.key, serving.keyPem, { mode: 0o600 });
    writeFileSync(files.saKey, serviceAccountKeys.keyPem, { mode: 0o600 });
    writeFileSync(files.saPub, serviceAccountKeys.publicKeyPem);
    writeFileSync(files.tokens, `${token},tollgate-e2e-admin,tollgate-e2e-admin,"system:masters"\n`, {
      mode: 0o600,
    });

    const server = `https://${loopback}:${apiserverPort}`;
    const apiserver = startProcess(
      'kube-apiserver',
      binaries.kubeApiserver,
      [
        `--etcd-servers=${etcdUrl}`,
        `--bind-address=${loopback}`,
        `--advertise-address=${loopback}`,
        // The endpoint reconciler refuses a loopback advertise address, and nothing here would
        // use the `kubernetes` Service's endpoints anyway.
        '--endpoint-reconciler-type=none',
        `--secure-port=${apiserverPort}`,
        `--tls-cert-file=${files.cert}`,
        `--tls-private-key-file=${files.key}`,
        `--cert-dir=${join(workDir, 'apiserver-certs')}`,
        `--token-auth-file=${files.tokens}`,
        '--authorization-mode=RBAC',
        '--service-account-issuer=https://kubernetes.default.svc',
        `--service-account-key-file=${files.saPub}`,
        `--service-account-signing-key-file=${files.saKey}`,
        '--service-cluster-ip-range=10.0.0.0/24',
        '--enable-admission-plugins=MutatingAdmissionWebhook,ValidatingAdmissionWebhook',
        // No controller-manager runs, so no namespace gets its `default` ServiceAccount; the
        // ServiceAccount plugin would reject every pod for lacking it.
        '--disable-admission-plugins=ServiceAccount',
        '--allow-privileged=true',
        '--profiling=false',
        ...(options.apiserverArgs ?? []),
      ],
      { logFile: join(workDir, 'kube-apiserver.log'), env },
    );
    started.push(apiserver);
    await waitUntil('kube-apiserver', apiserver, apiserverReadyTimeoutMs, () =>
      httpsOk(`${server}/readyz`, ca.certPem, token),
    );

    writeFileSync(files.kubeconfig, kubeconfigYaml(server, ca.certPem, token), { mode: 0o600 });

    let stopping: Promise<void> | undefined;
    return {
      server,
      kubeconfigPath: files.kubeconfig,
      caPem: ca.certPem,
      token,
      workDir,
      etcd,
      apiserver,
      kubeConfig() {
        const kc = new KubeConfig();
        kc.loadFromFile(files.kubeconfig);
        return kc;
      },
      kubectl: (args, kubectlOptions = {}) => runKubectl(files.kubeconfig, args, kubectlOptions),
      stop() {
        stopping ??= stopAll();
        return stopping;
      },
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

const workDirPrefix = 'tollgate-e2e-';
const ownerFile = 'owner.pid';

/**
 * Removes the work dirs of earlier runs whose process is gone: only a SIGKILLed run leaves one
 * (its etcd and kube-apiserver died with it, by the parent-death signal).
 */
function removeAbandonedWorkDirs(): void {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(workDirPrefix)) continue;
    const dir = join(tmpdir(), name);
    try {
      const owner = Number(readFileSync(join(dir, ownerFile), 'utf8'));
      if (isAlive(owner)) continue;
    } catch {
      continue; // not ours, or being created right now
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The children's environment: no proxy settings, since every address they talk to is loopback. */
function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'http_proxy', 'https_proxy', 'all_proxy']) {
    delete env[name];
  }
  return env;
}

async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

async function waitUntil(
  name: string,
  child: ManagedProcess,
  timeoutMs: number,
  ready: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.hasExited()) {
      const code = await child.exited;
      throw new Error(`e2e: ${name} exited (${code}) before it was ready; its log ends:\n${child.logTail()}`);
    }
    if (await ready()) return;
    await new Promise((resolve) => setTimeout(resolve, readyPollMs));
  }
  throw new Error(`e2e: ${name} was not ready after ${timeoutMs} ms; its log ends:\n${child.logTail()}`);
}

function httpOk(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const request = httpGet(url, { timeout: 2_000 }, (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    });
    request.once('error', () => resolve(false));
    request.once('timeout', () => request.destroy());
  });
}

function httpsOk(url: string, ca: string, token: string): Promise<boolean> {
  return new Promise((resolve) => {
    const request = httpsGet(
      url,
      { ca, headers: { authorization: `Bearer ${token}` }, timeout: 2_000 },
      (response) => {
        response.resume();
        resolve(response.statusCode === 200);
      },
    );
    request.once('error', () => resolve(false));
    request.once('timeout', () => request.destroy());
  });
}

function kubeconfigYaml(server: string, caPem: string, token: string): string {
  // JSON is YAML, and needs no quoting rules.
  return JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'tollgate-e2e',
          cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') },
        },
      ],
      users: [{ name: 'tollgate-e2e-admin', user: { token } }],
      contexts: [{ name: 'tollgate-e2e', context: { cluster: 'tollgate-e2e', user: 'tollgate-e2e-admin' } }],
      'current-context': 'tollgate-e2e',
    },
    null,
    2,
  );
}

function runKubectl(
  kubeconfigPath: string,
  args: readonly string[],
  options: { input?: string; allowFailure?: boolean },
): Promise<KubectlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('kubectl', [`--kubeconfig=${kubeconfigPath}`, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: childEnv(),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', (error) =>
      reject(new Error(`e2e: cannot run kubectl (is it installed?): ${error.message}`, { cause: error })),
    );
    child.once('close', (code) => {
      const result = { stdout, stderr, exitCode: code ?? -1 };
      if (result.exitCode !== 0 && options.allowFailure !== true) {
        reject(new Error(`e2e: kubectl ${args.join(' ')} exited ${result.exitCode}:\n${stderr}`));
      } else {
        resolve(result);
      }
    });
    child.stdin.end(options.input ?? '');
  });
}
