// Requests too malformed to reach a route are answered by fastify and leave a debug line of ours
// (fastify has no logger: server.ts), so an operator at debug level can see why a client failed.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { PolicyEngine } from '../../src/engine/engine.js';
import { buildServer } from '../../src/http/server.js';
import { memoryLogger } from '../helpers/logs.js';

/** Sends `raw` on a fresh connection and returns what came back once the server closed it. */
function exchange(port: number, raw: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(raw));
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(received));
  });
}

describe('client errors', () => {
  const logs = memoryLogger();
  let app: FastifyInstance;
  let port: number;

  beforeAll(async () => {
    app = await buildServer({ engine: { current: new PolicyEngine([]) }, logger: logs.logger });
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as net.AddressInfo).port;
  });
  afterAll(() => app.close());

  const clientErrors = () => logs.lines().filter((line) => line.msg === 'client error');

  it('gives Fastify no logger: with one, it made a child logger and timed every request (README, "Performance")', () => {
    expect(app.log).not.toBe(logs.logger);
    // Fastify's stand-in for no logger has no bindings(); a pino logger, or a child of one, has.
    expect(typeof (app.log as unknown as { bindings?: unknown }).bindings).toBe('undefined');
  });

  it('answers a malformed request line with a 400 and logs it at debug with the parser code', async () => {
    const received = await exchange(port, 'BOGUS\u0001 /validate HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(received).toMatch(/^HTTP\/1\.1 400/);
    expect(clientErrors()).toContainEqual(expect.objectContaining({ level: 20, code: 'HPE_INVALID_METHOD' }));
  });

  it('answers headers over the size limit with a 431 and logs it', async () => {
    const received = await exchange(port, `POST /validate HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
    expect(received).toMatch(/^HTTP\/1\.1 431/);
    expect(clientErrors()).toContainEqual(expect.objectContaining({ code: 'HPE_HEADER_OVERFLOW' }));
  });
});
