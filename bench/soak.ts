// Soak: the built tollgate under steady load for minutes, with latency, RSS and heap sampled each
// window, to show they stay flat. Not part of the test run: `npm run soak`.
//   SOAK_MINUTES=10   how long (default 5)
//   SOAK_RATE=400     reviews a second, sent open-loop as the apiserver sends them (default 300)
//   SOAK_WINDOW=30    seconds a row of the table covers (default 30)
// Also exports the small load tools bench/overload.ts uses.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, closeSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The built CLI; npm scripts run from the repository root. */
const BIN = path.resolve('dist/src/cli/bin.js');
/** A request still unanswered after this long is an error (the apiserver's default webhook timeout). */
export const REQUEST_TIMEOUT_MS = 10_000;

export interface Tollgate {
  url: string;
  ca: string;
  pid: number;
  stop(): Promise<void>;
}

/**
 * Starts `tollgate serve` from dist/ in a temporary directory (its dev certificate goes there);
 * with `cpu`, pinned to that CPU (taskset), so that the load generator does not share it.
 */
export async function startTollgate(args: string[] = [], cpu?: number): Promise<Tollgate> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-soak-'));
  const logFile = path.join(dir, 'tollgate.log');
  const out = openSync(logFile, 'w');
  let child: ChildProcess;
  try {
    const command = [process.execPath, BIN, 'serve', '--port', '0', '--host', '127.0.0.1', '--drain-seconds', '0', ...args];
    const [file, ...rest] = cpu === undefined ? command : ['taskset', '-c', String(cpu), ...command];
    child = spawn(file!, rest, { cwd: dir, stdio: ['ignore', out, out] });
  } finally {
    closeSync(out);
  }
  const kill = () => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL');
  process.once('exit', kill);
  const deadline = Date.now() + 20_000;
  for (;;) {
    const line = readFileSync(logFile, 'utf8').split('\n').find((l) => l.includes('"tollgate is serving"'));
    if (line) {
      const url = (JSON.parse(line) as { url: string }).url.replace('127.0.0.1', 'localhost');
      const ca = readFileSync(path.join(dir, 'certs', 'dev-tls.crt'), 'utf8');
      return {
        url,
        ca,
        pid: child.pid ?? 0,
        async stop() {
          const exited = new Promise((resolve) => child.once('exit', resolve));
          child.kill('SIGTERM');
          await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
          kill();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    if (Date.now() > deadline || child.exitCode !== null) {
      kill();
      throw new Error(`tollgate did not start:\n${readFileSync(logFile, 'utf8').slice(-2000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export interface Review {
  endpoint: 'validate' | 'mutate';
  body: Buffer;
  uid: string;
}

function podReview(uid: string, images: string[], annotations: Record<string, string> = {}): Buffer {
  const managedFields = Array.from({ length: 4 }, (_, i) => ({ manager: `m${i}`, operation: 'Update', apiVersion: 'v1', fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:labels': { [`f:l${i}`]: {} } } } }));
  const object = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `web-${uid}`, namespace: 'default', labels: { app: 'web' }, annotations, managedFields },
    spec: { containers: images.map((image, i) => ({ name: `c${i}`, image, ports: [{ containerPort: 8080 }], resources: { requests: { cpu: '100m', memory: '64Mi' } } })) },
  };
  return Buffer.from(JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid, kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, operation: 'CREATE', namespace: 'default', userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' }, object },
  }));
}

/** The mix sent: validate and mutate, allowed and denied, one to three containers. */
export function reviewMix(): Review[] {
  return [
    { endpoint: 'validate', uid: 'v-allowed', body: podReview('v-allowed', ['nginx:1.27', 'registry.k8s.io/pause:3.9']) },
    { endpoint: 'validate', uid: 'v-denied', body: podReview('v-denied', ['evil.io/miner:latest']) },
    { endpoint: 'mutate', uid: 'm-patched', body: podReview('m-patched', ['nginx:1.27']) },
    { endpoint: 'mutate', uid: 'm-unchanged', body: podReview('m-unchanged', ['ghcr.io/acme/app:v1', 'nginx', 'busybox'], { 'tollgate.dev/admitted': 'true' }) },
  ];
}

export interface Sample {
  ms: number;
  status: number;
}

/** One review over a keep-alive agent; status 0 is a transport error or a time-out. */
export function send(tollgate: Tollgate, agent: https.Agent, review: Review): Promise<Sample> {
  const started = performance.now();
  return new Promise((resolve) => {
    const request = https.request(
      `${tollgate.url}/${review.endpoint}`,
      { method: 'POST', agent, ca: tollgate.ca, headers: { 'content-type': 'application/json', 'content-length': review.body.length }, timeout: REQUEST_TIMEOUT_MS },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          let status = response.statusCode ?? 0;
          // A 200 that is not this review's answer counts as a failure.
          if (status === 200 && !Buffer.concat(chunks).includes(`"uid":"${review.uid}"`)) status = -1;
          resolve({ ms: performance.now() - started, status });
        });
        response.on('error', () => resolve({ ms: performance.now() - started, status: 0 }));
      },
    );
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', () => resolve({ ms: performance.now() - started, status: 0 }));
    request.end(review.body);
  });
}

/**
 * Sends `rate` reviews a second for `seconds`, whatever the answers (open loop), and resolves when
 * all are answered. A late tick sends what fell due meanwhile, so the count is always rate × seconds.
 */
export async function openLoop(tollgate: Tollgate, agent: https.Agent, rate: number, seconds: number, onSample: (sample: Sample) => void): Promise<void> {
  const mix = reviewMix();
  const pending: Array<Promise<void>> = [];
  const tickMs = 10;
  const total = Math.round(rate * seconds);
  const started = performance.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate));
    for (; sent < due; sent++) pending.push(send(tollgate, agent, mix[sent % mix.length]!).then(onSample));
    await new Promise((resolve) => setTimeout(resolve, tickMs));
  }
  await Promise.all(pending);
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** A metric's value from tollgate's own /metrics. */
export async function scrape(tollgate: Tollgate, agent: https.Agent, names: string[]): Promise<Record<string, number>> {
  const text = await new Promise<string>((resolve, reject) => {
    https.get(`${tollgate.url}/metrics`, { agent, ca: tollgate.ca }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk)).on('end', () => resolve(body));
    }).on('error', reject);
  });
  const values: Record<string, number> = {};
  for (const name of names) {
    const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
    values[name] = line ? Number(line.split(' ').pop()) : NaN;
  }
  return values;
}

/** Opens `count` connections on the agent (one GET /healthz each, all at once), so that no TLS handshake is timed. */
export async function warm(tollgate: Tollgate, agent: https.Agent, count: number): Promise<void> {
  await Promise.all(
    Array.from({ length: count }, () => new Promise<void>((resolve) => {
      https.get(`${tollgate.url}/healthz`, { agent, ca: tollgate.ca }, (response) => response.resume().on('end', () => resolve())).on('error', () => resolve());
    })),
  );
}

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '-');

async function soak(): Promise<void> {
  const minutes = Number(process.env.SOAK_MINUTES ?? 5);
  const rate = Number(process.env.SOAK_RATE ?? 300);
  const windowSeconds = Number(process.env.SOAK_WINDOW ?? 30);
  const windows = Math.max(1, Math.round((minutes * 60) / windowSeconds));
  const tollgate = await startTollgate(['--log-level', 'info']);
  const agent = new https.Agent({ keepAlive: true, maxSockets: 64 });
  const metricNames = ['process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_p99_seconds'];
  console.log(`soak: ${minutes} min at ${rate} reviews/s (open loop), windows of ${windowSeconds} s, on ${os.cpus().length} CPUs, Node ${process.version}`);
  console.log('\n| window | sent | ok | failed | p50 ms | p99 ms | max ms | RSS MB | heap used MB | event-loop p99 ms |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  const rows: Array<{ p99: number; rss: number; heap: number }> = [];
  try {
    for (let w = 1; w <= windows; w++) {
      const latencies: number[] = [];
      let failed = 0;
      await openLoop(tollgate, agent, rate, windowSeconds, (s) => {
        if (s.status === 200) latencies.push(s.ms);
        else failed++;
      });
      latencies.sort((a, b) => a - b);
      const m = await scrape(tollgate, agent, metricNames);
      const row = { p99: percentile(latencies, 99), rss: m.process_resident_memory_bytes! / 2 ** 20, heap: m.nodejs_heap_size_used_bytes! / 2 ** 20 };
      rows.push(row);
      console.log(`| ${w} | ${latencies.length + failed} | ${latencies.length} | ${failed} | ${fmt(percentile(latencies, 50), 2)} | ${fmt(row.p99, 2)} | ${fmt(latencies.at(-1) ?? NaN)} | ${fmt(row.rss)} | ${fmt(row.heap)} | ${fmt(m.nodejs_eventloop_lag_p99_seconds! * 1000, 2)} |`);
    }
  } finally {
    agent.destroy();
    await tollgate.stop();
  }
  // The first window warms up (JIT, pools); flat means the rest stay near the second.
  const base = rows[Math.min(1, rows.length - 1)]!;
  const last = rows.at(-1)!;
  console.log(`\nfrom window ${Math.min(2, rows.length)} to the last: RSS ${fmt(base.rss)} -> ${fmt(last.rss)} MB, heap used ${fmt(base.heap)} -> ${fmt(last.heap)} MB, p99 ${fmt(base.p99, 2)} -> ${fmt(last.p99, 2)} ms`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) await soak();
