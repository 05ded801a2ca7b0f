// Closing with spare connections open: kube-apiserver's Go transport dials connections it may never
// send a request on and keeps them in its pool. Found by the e2e suite, where `tollgate serve` did not
// exit on SIGTERM until killed; Node's close() neither closes nor times out such connections.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/http/serve.js';
import { httpsRequest } from '../helpers/https.js';
import { memoryLogger } from '../helpers/logs.js';

/** Far less than the client's own idle time-out, or any header time-out: close() must not wait for either. */
const CLOSE_BUDGET_MS = 2_000;

let dir: string;
let ca: string;
let server: RunningServer | undefined;
const sockets: TLSSocket[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'tollgate-spare-'));
});
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await server?.close();
  server = undefined;
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function start(): Promise<RunningServer> {
  server = await startServer({ logger: memoryLogger().logger, port: 0, host: '127.0.0.1', devCertDir: dir, drainMs: 0 });
  ca = await readFile(path.join(dir, 'dev-tls.crt'), 'utf8');
  return server;
}

/** A TLS connection the server has accepted, on which no request is ever sent. */
async function spareConnection(running: RunningServer): Promise<TLSSocket> {
  const accepted = new Promise((resolve) => running.app.server.once('secureConnection', resolve));
  const socket = connect({ host: '127.0.0.1', port: running.port, ca, servername: 'localhost' });
  sockets.push(socket);
  await Promise.all([accepted, new Promise((resolve) => socket.once('secureConnect', resolve))]);
  return socket;
}

function settlesWithin<T>(promise: Promise<T>, ms: number): Promise<'settled' | 'timed out'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timed out'>((resolve) => (timer = setTimeout(() => resolve('timed out'), ms)));
  return Promise.race([promise.then(() => 'settled' as const), timeout]).finally(() => clearTimeout(timer));
}

describe('closing with connections that never carried a request', () => {
  it('close() ends them instead of waiting for the client to drop them', async () => {
    const running = await start();
    const spare = await spareConnection(running);
    const ended = new Promise((resolve) => spare.once('close', resolve));

    expect(await settlesWithin(running.close(), CLOSE_BUDGET_MS)).toBe('settled');
    expect(await settlesWithin(ended, CLOSE_BUDGET_MS)).toBe('settled');
  });

  it('shutdown() does too, after the drain', async () => {
    const running = await start();
    await spareConnection(running);
    expect(await settlesWithin(running.shutdown(), CLOSE_BUDGET_MS)).toBe('settled');
  });

  it('a connection that carried a request keeps being served until close(), then ends too', async () => {
    const running = await start();
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    const first = await httpsRequest(`https://localhost:${running.port}/healthz`, ca, { agent });
    expect(first.status).toBe(200);
    await spareConnection(running);
    // The used connection is reused, not cut, while the server runs.
    const second = await httpsRequest(`https://localhost:${running.port}/healthz`, ca, { agent });
    expect(second.status).toBe(200);
    expect(await settlesWithin(running.close(), CLOSE_BUDGET_MS)).toBe('settled');
    agent.destroy();
  });
});
