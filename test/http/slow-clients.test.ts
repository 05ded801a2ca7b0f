// Slow clients over real sockets: a client that trickles its headers or body, or sits on an idle
// connection, is cut off by the configured limits (small values here; the defaults are named
// constants in server.ts), so nobody can hold the webhook's connections.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { PolicyEngine } from '../../src/engine/engine.js';
import { buildServer, CONNECTIONS_CHECK_INTERVAL_MS, HEADERS_TIMEOUT_MS, KEEP_ALIVE_TIMEOUT_MS, REQUEST_TIMEOUT_MS } from '../../src/http/server.js';
import { createLogger } from '../../src/log/logger.js';
import { validating } from '../helpers/policies.js';

const LIMITS = { headersMs: 400, requestMs: 700, keepAliveMs: 300, checkIntervalMs: 50 };
/** Upper bound on how long any of these connections may live: the largest limit plus slack. */
const CUT_OFF_WITHIN_MS = 3_000;
/** Scheduling slack on a loaded machine. */
const SLACK_MS = 1_000;

const REVIEW = JSON.stringify({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: { uid: 'u', kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, operation: 'CREATE', object: {} },
});

interface Outcome {
  received: string;
  closedAfterMs: number;
}

/**
 * Opens a raw connection, sends `first`, then one byte of `trickle` every `everyMs` until the
 * server closes the connection (or CUT_OFF_WITHIN_MS passes: then the test fails).
 */
function slowClient(port: number, first: string, trickle = '', everyMs = 100): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    const deadline = setTimeout(() => {
      clearInterval(timer);
      socket.destroy();
      reject(new Error(`server kept the connection open for ${CUT_OFF_WITHIN_MS} ms; received: ${received.slice(0, 200)}`));
    }, CUT_OFF_WITHIN_MS);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(timer);
      clearTimeout(deadline);
      resolve({ received, closedAfterMs: performance.now() - started });
    });
    socket.on('connect', () => {
      if (first) socket.write(first);
      if (trickle) {
        timer = setInterval(() => {
          if (socket.writable) socket.write(trickle[sent++ % trickle.length]!);
        }, everyMs);
      }
    });
  });
}

describe('slow clients', () => {
  let app: FastifyInstance;
  let port: number;

  beforeAll(async () => {
    app = await buildServer({ engine: { current: new PolicyEngine([]) }, logger: createLogger({ level: 'silent' }), timeouts: LIMITS });
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    await app.close();
  });

  it('has defaults inside the apiserver time-out, checked often enough to matter', () => {
    expect(HEADERS_TIMEOUT_MS).toBeLessThanOrEqual(REQUEST_TIMEOUT_MS);
    expect(REQUEST_TIMEOUT_MS).toBeLessThanOrEqual(30_000);
    expect(CONNECTIONS_CHECK_INTERVAL_MS).toBeLessThanOrEqual(1_000);
    // Longer than the apiserver's 90 s idle time, so the server never closes a connection about to be reused.
    expect(KEEP_ALIVE_TIMEOUT_MS).toBeGreaterThan(90_000);
  });

  it('cuts off a client that trickles its headers (408 after the headers time-out)', async () => {
    const outcome = await slowClient(port, 'POST /validate HTTP/1.1\r\nHost: tollgate\r\nX-Slow: ', 'abcdefgh', 50);
    expect(outcome.received).toMatch(/^HTTP\/1\.1 408/);
    expect(outcome.closedAfterMs).toBeGreaterThanOrEqual(LIMITS.headersMs - 50);
    expect(outcome.closedAfterMs).toBeLessThan(LIMITS.headersMs + SLACK_MS);
  });

  it('cuts off a client that connects and sends nothing', async () => {
    const outcome = await slowClient(port, '');
    expect(outcome.closedAfterMs).toBeLessThan(LIMITS.requestMs + SLACK_MS);
  });

  it('cuts off a client that trickles its body (408 after the request time-out), with no review run', async () => {
    const headers = `POST /validate HTTP/1.1\r\nHost: tollgate\r\nContent-Type: application/json\r\nContent-Length: ${REVIEW.length}\r\n\r\n`;
    const outcome = await slowClient(port, headers, REVIEW, 50);
    expect(outcome.received).toMatch(/^HTTP\/1\.1 408/);
    expect(outcome.closedAfterMs).toBeGreaterThanOrEqual(LIMITS.requestMs - 50);
    expect(outcome.closedAfterMs).toBeLessThan(LIMITS.requestMs + SLACK_MS);
  });

  it('answers a whole request at once, then closes the idle keep-alive connection after its time-out', async () => {
    const request = `POST /validate HTTP/1.1\r\nHost: tollgate\r\nContent-Type: application/json\r\nContent-Length: ${REVIEW.length}\r\n\r\n${REVIEW}`;
    const outcome = await slowClient(port, request);
    expect(outcome.received).toMatch(/^HTTP\/1\.1 200/);
    expect(outcome.received).toContain('"allowed":true');
    expect(outcome.closedAfterMs).toBeGreaterThanOrEqual(LIMITS.keepAliveMs - 50);
    // Node keeps an idle socket one second past keepAliveTimeout, to outlast a client's own timer.
    expect(outcome.closedAfterMs).toBeLessThan(LIMITS.keepAliveMs + 1000 + SLACK_MS);
  });

  it('keeps serving others while slow clients are being cut off', async () => {
    const slow = Array.from({ length: 20 }, () => slowClient(port, 'POST /validate HTTP/1.1\r\nHost: tollgate\r\n', 'x', 50));
    const response = await fetch(`http://127.0.0.1:${port}/validate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: REVIEW });
    expect(response.status).toBe(200);
    const outcomes = await Promise.all(slow);
    for (const outcome of outcomes) expect(outcome.closedAfterMs).toBeLessThan(LIMITS.headersMs + SLACK_MS);
  });
});

describe('a client that stops reading in the middle of an answer', () => {
  // Larger than loopback's socket buffers on both ends, so the answer stalls.
  const ANSWER_BYTES = 24 * 1024 * 1024;
  // A keep-alive time-out far beyond the test: only the socket's time-out of silence can close it.
  const limits = { headersMs: 400, requestMs: 700, keepAliveMs: 60_000, checkIntervalMs: 50 };
  let app: FastifyInstance;
  let port: number;
  const closedOnServer: Array<Promise<number>> = [];

  beforeAll(async () => {
    const hugeDenial = validating('huge-denial', () => ({ allowed: false, message: 'x'.repeat(ANSWER_BYTES) }));
    app = await buildServer({ engine: { current: new PolicyEngine([hugeDenial]) }, logger: createLogger({ level: 'silent' }), timeouts: limits });
    // The paused client never reads the end of its connection: the server's side tells when it closed.
    app.server.on('connection', (socket: net.Socket) => {
      const opened = performance.now();
      closedOnServer.push(new Promise((resolve) => socket.once('close', () => resolve(performance.now() - opened))));
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    await app.close();
  });

  it('is cut off once the connection has been silent for the request time-out, though its answer never finished', async () => {
    const request = `POST /validate HTTP/1.1\r\nHost: tollgate\r\nContent-Type: application/json\r\nContent-Length: ${REVIEW.length}\r\n\r\n${REVIEW}`;
    const socket = net.connect(port, '127.0.0.1', () => {
      // Never reads: the answer fills the socket buffers and waits in the server.
      socket.pause();
      socket.write(request);
    });
    socket.on('error', () => undefined);
    try {
      await expect.poll(() => closedOnServer.length, { timeout: CUT_OFF_WITHIN_MS }).toBe(1);
      const closedAfterMs = await Promise.race([
        closedOnServer[0]!,
        new Promise<number>((_, reject) => setTimeout(() => reject(new Error(`server kept a stalled reader's connection open for ${CUT_OFF_WITHIN_MS} ms`)), CUT_OFF_WITHIN_MS)),
      ]);
      // Writing into the growing socket buffers counts as activity; then the limit of silence.
      expect(closedAfterMs).toBeGreaterThanOrEqual(limits.requestMs - 50);
      expect(closedAfterMs).toBeLessThan(CUT_OFF_WITHIN_MS);
    } finally {
      socket.destroy();
    }
  });
});
