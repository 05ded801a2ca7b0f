// Graceful shutdown: /readyz fails at once, reviews keep being answered through the drain period
// (endpoint removal lags), in-flight ones finish, then the server closes. Tested in-process with a
// client loop across the shutdown, and on the built CLI with a real SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/http/serve.js';
import { DEV_CERT_FILE } from '../../src/tls/dev-certificate.js';
import { httpsRequest } from '../helpers/https.js';
import { memoryLogger } from '../helpers/logs.js';
import { reviewFor } from '../helpers/reviews.js';

const BIN = fileURLToPath(new URL('../../dist/src/cli/bin.js', import.meta.url));

// Pods named `slow` take SLOW_MS to judge: a review that straddles the moment the server closes.
const SLOW_MS = 250;
const SLOW_POLICY = `export default {
  name: 'slow-for-some', kind: 'validating',
  create() { return { validate: (r) => r.object?.metadata?.name === 'slow' ? new Promise((ok) => setTimeout(ok, ${SLOW_MS})) : undefined }; },
};`;

const review = (name: string) => JSON.stringify(reviewFor({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: [{ name: 'c', image: 'nginx' }] } }));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function refusesConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'tollgate-shutdown-'));
  await writeFile(path.join(dir, 'slow.mjs'), SLOW_POLICY);
  await writeFile(
    path.join(dir, 'config.yaml'),
    'policies:\n  - module: ./slow.mjs\n    timeoutMs: 5000\n  - module: image-registry-allowlist\n    config: { registries: [docker.io/library] }\n',
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('graceful shutdown (in-process)', () => {
  let server: RunningServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('serves every review across the shutdown: readyz 503 at once, drain, in-flight finished, then closed', async () => {
    const DRAIN_MS = 700;
    server = await startServer({
      logger: memoryLogger().logger,
      port: 0,
      host: '127.0.0.1',
      devCertDir: path.join(dir, 'certs'),
      configFile: path.join(dir, 'config.yaml'),
      drainMs: DRAIN_MS,
    });
    const running = server;
    const ca = await readFile(path.join(dir, 'certs', DEV_CERT_FILE), 'utf8');
    const agent = new https.Agent({ keepAlive: true, maxSockets: 8 });
    const url = `https://localhost:${running.port}`;
    const failures: string[] = [];
    const statuses = { before: 0, during: 0 };
    let phase: 'before' | 'during' = 'before';
    let sending = true;

    // The apiserver keeps sending until the endpoint is gone; here it goes 200 ms before the drain ends.
    const worker = async () => {
      while (sending) {
        const counted = phase;
        try {
          const response = await httpsRequest(`${url}/validate`, ca, { method: 'POST', body: review('fast'), agent });
          if (response.status === 200 && JSON.parse(response.body).response.allowed === true) statuses[counted]++;
          else failures.push(`${response.status} ${response.body.slice(0, 200)}`);
        } catch (err) {
          failures.push(String(err));
        }
      }
    };
    const workers = Array.from({ length: 6 }, worker);
    for (const deadline = Date.now() + 5_000; statuses.before < 10 && Date.now() < deadline; ) await sleep(20);

    const shutdownStarted = performance.now();
    phase = 'during';
    const shutdown = running.shutdown();
    const ready = await httpsRequest(`${url}/readyz`, ca);
    expect(ready.status).toBe(503);
    expect(ready.body).toContain('shutdown');
    expect(ready.headers.connection).toBe('close');

    await sleep(DRAIN_MS - 200);
    sending = false;
    // Sent just before the drain ends and answered after close() began: close waits for it.
    const straddling = httpsRequest(`${url}/validate`, ca, { method: 'POST', body: review('slow'), agent: new https.Agent({ keepAlive: false }) });
    await Promise.all(workers);
    await shutdown;
    const closedAfterMs = performance.now() - shutdownStarted;
    const late = await straddling;
    agent.destroy();

    expect(failures).toEqual([]);
    expect(statuses.before).toBeGreaterThanOrEqual(10);
    expect(statuses.during).toBeGreaterThanOrEqual(3);
    expect(late.status).toBe(200);
    expect(closedAfterMs).toBeGreaterThanOrEqual(DRAIN_MS);
    expect(closedAfterMs).toBeLessThan(DRAIN_MS + SLOW_MS + 1_000);
    expect(await refusesConnections(running.port)).toBe(true);
  });

  it('close() skips the drain', async () => {
    server = await startServer({ logger: memoryLogger().logger, port: 0, host: '127.0.0.1', devCertDir: path.join(dir, 'certs'), drainMs: 30_000 });
    const started = performance.now();
    await server.close();
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(server.readiness.has('shutdown')).toBe(true);
    expect(await refusesConnections(server.port)).toBe(true);
  });
});

describe('graceful shutdown (built CLI, real SIGTERM)', () => {
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  });

  async function serveCli(drainSeconds: number): Promise<{ child: ChildProcess; url: string; ca: string; exited: Promise<number | null>; lines: () => Array<Record<string, unknown>> }> {
    if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build first`);
    const cwd = await mkdtemp(path.join(dir, 'cli-'));
    const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--host', '127.0.0.1', '--drain-seconds', String(drainSeconds)], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    const lines = () => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const deadline = Date.now() + 15_000;
    let serving: Record<string, unknown> | undefined;
    while (!(serving = lines().find((l) => l.msg === 'tollgate is serving'))) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`CLI did not start: ${out}`);
      await sleep(50);
    }
    const port = new URL(String(serving.url)).port;
    const ca = await readFile(path.join(cwd, 'certs', DEV_CERT_FILE), 'utf8');
    return { child, url: `https://localhost:${port}`, ca, exited, lines };
  }

  it('on SIGTERM fails /readyz, keeps answering reviews through the drain, then exits 0', async () => {
    const { child, url, ca, exited, lines } = await serveCli(1);
    expect((await httpsRequest(`${url}/readyz`, ca)).status).toBe(200);
    const signalled = performance.now();
    child.kill('SIGTERM');
    await sleep(100);
    expect((await httpsRequest(`${url}/readyz`, ca)).status).toBe(503);
    const answer = await httpsRequest(`${url}/validate`, ca, { method: 'POST', body: review('during-drain') });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body).response.allowed).toBe(true);
    expect(await exited).toBe(0);
    expect(performance.now() - signalled).toBeGreaterThanOrEqual(1_000);
    expect(lines().some((l) => l.msg === 'shutting down' && l.signal === 'SIGTERM')).toBe(true);
  });

  it('a second SIGTERM skips the rest of the drain', async () => {
    const { child, exited } = await serveCli(60);
    child.kill('SIGTERM');
    await sleep(100);
    const second = performance.now();
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(performance.now() - second).toBeLessThan(3_000);
  });
});
