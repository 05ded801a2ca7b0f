// Certificate rotation under a running server: files swapped in place and the way a Secret volume
// swaps them, checked over real TLS connections with a verifying client; bad pairs never served.
import { X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer, type StartOptions } from '../../src/http/serve.js';
import { createCertificateAuthority, createClientCertificate, createServingCertificate, type PemPair } from '../../src/tls/certificates.js';
import { memoryLogger } from '../helpers/logs.js';
import { pod, reviewFor } from '../helpers/reviews.js';

const LOCAL_NAMES = { dns: ['localhost'], ips: ['127.0.0.1'] };
/** Long enough that only the directory watch, not the backstop poll, can explain a prompt reload. */
const NO_POLL_MS = 60_000;

let ca: PemPair;
let pairs: PemPair[];
let dir: string;
let server: RunningServer | undefined;

beforeAll(async () => {
  ca = createCertificateAuthority('rotation test CA', 1);
  pairs = Array.from({ length: 3 }, () => createServingCertificate('localhost', LOCAL_NAMES, 1, ca));
});

afterEach(async () => {
  await server?.close();
  server = undefined;
  await rm(dir, { recursive: true, force: true });
});

function serialOf(pair: PemPair): string {
  return new X509Certificate(pair.cert).serialNumber;
}

/** The certificate the server presents to a client that trusts only the test CA and checks the name. */
function servedCertificate(port: number, options: tls.ConnectionOptions = {}): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca: ca.cert, servername: 'localhost', timeout: 5_000, ...options }, () => {
      const peer = socket.getPeerX509Certificate();
      socket.destroy();
      if (peer) resolve(peer);
      else reject(new Error('no peer certificate'));
    });
    socket.on('timeout', () => socket.destroy(new Error('TLS connect timed out')));
    socket.on('error', reject);
  });
}

async function eventually<T>(probe: () => Promise<T>, accept: (value: T) => boolean, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    try {
      last = await probe();
      if (accept(last)) return last;
    } catch {
      // not there yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`condition not met within ${timeoutMs} ms (last: ${String(last)})`);
}

async function start(certFile: string, keyFile: string, extra: Partial<StartOptions> = {}) {
  const logs = memoryLogger();
  server = await startServer({
    logger: logs.logger,
    port: 0,
    host: '127.0.0.1',
    drainMs: 0,
    certFile,
    keyFile,
    certificatePollIntervalMs: NO_POLL_MS,
    ...extra,
  });
  return { server, logs };
}

async function writePair(certFile: string, keyFile: string, pair: PemPair): Promise<void> {
  await writeFile(keyFile, pair.key, { mode: 0o600 });
  await writeFile(certFile, pair.cert);
}

/** A directory laid out as the kubelet lays out a Secret volume: files are symlinks through `..data`. */
async function secretVolume(root: string, pair: PemPair): Promise<void> {
  await writeVersion(root, '..2025_01_01_00_00_00.000000001', pair);
  await symlink('..2025_01_01_00_00_00.000000001', path.join(root, '..data'));
  await symlink(path.join('..data', 'tls.crt'), path.join(root, 'tls.crt'));
  await symlink(path.join('..data', 'tls.key'), path.join(root, 'tls.key'));
}

async function writeVersion(root: string, version: string, pair: PemPair): Promise<void> {
  await mkdir(path.join(root, version));
  await writeFile(path.join(root, version, 'tls.crt'), pair.cert);
  await writeFile(path.join(root, version, 'tls.key'), pair.key, { mode: 0o600 });
}

/** The kubelet's atomic update: a new version directory, a `..data_tmp` symlink to it, renamed over `..data`. */
async function swapSecretVolume(root: string, previous: string, version: string, pair: PemPair): Promise<void> {
  await writeVersion(root, version, pair);
  await symlink(version, path.join(root, '..data_tmp'));
  await rename(path.join(root, '..data_tmp'), path.join(root, '..data'));
  await rm(path.join(root, previous), { recursive: true });
}

describe('serving certificate rotation', () => {
  it('serves a pair rewritten in place to new connections, without a restart', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tollgate-rotation-'));
    const certFile = path.join(dir, 'tls.crt');
    const keyFile = path.join(dir, 'tls.key');
    const [first, second] = pairs as [PemPair, PemPair];
    await writePair(certFile, keyFile, first);
    const { server } = await start(certFile, keyFile);
    expect((await servedCertificate(server.port)).serialNumber).toBe(serialOf(first));

    await writePair(certFile, keyFile, second);
    const served = await eventually(() => servedCertificate(server.port), (cert) => cert.serialNumber === serialOf(second));
    expect(served.serialNumber).toBe(serialOf(second));
    expect(server.certificate.current?.serialNumber).toBe(serialOf(second));
    expect(server.certificate.current?.notAfter.getTime()).toBe(Date.parse(new X509Certificate(second.cert).validTo));
    expect(server.readiness.ready).toBe(true);
  });

  it('follows an atomic ..data symlink swap, as a Secret volume is updated, both ways', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tollgate-rotation-'));
    const [first, second] = pairs as [PemPair, PemPair];
    await secretVolume(dir, first);
    const { server } = await start(path.join(dir, 'tls.crt'), path.join(dir, 'tls.key'));
    expect((await servedCertificate(server.port)).serialNumber).toBe(serialOf(first));

    await swapSecretVolume(dir, '..2025_01_01_00_00_00.000000001', '..2025_02_01_00_00_00.000000002', second);
    await eventually(() => servedCertificate(server.port), (cert) => cert.serialNumber === serialOf(second));

    await swapSecretVolume(dir, '..2025_02_01_00_00_00.000000002', '..2025_03_01_00_00_00.000000003', first);
    const back = await eventually(() => servedCertificate(server.port), (cert) => cert.serialNumber === serialOf(first));
    expect(back.serialNumber).toBe(serialOf(first));
  });

  it('never serves a mismatched or half-written pair: the old one stays, the refusal is logged', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tollgate-rotation-'));
    const certFile = path.join(dir, 'tls.crt');
    const keyFile = path.join(dir, 'tls.key');
    const [first, second, third] = pairs as [PemPair, PemPair, PemPair];
    await writePair(certFile, keyFile, first);
    const { server, logs } = await start(certFile, keyFile);

    // A new certificate beside the old key: refused.
    await writeFile(certFile, second.cert);
    await eventually(async () => logs.lines().filter((line) => line.msg === 'new serving certificate refused; keeping the current one').length, (n) => n >= 1);
    expect((await servedCertificate(server.port)).serialNumber).toBe(serialOf(first));
    const refusal = logs.lines().find((line) => line.msg === 'new serving certificate refused; keeping the current one');
    expect(String(refusal?.reason)).toMatch(/key does not belong/);

    // Half a certificate: refused too.
    await writeFile(certFile, third.cert.slice(0, third.cert.length / 2));
    await writeFile(keyFile, third.key);
    await eventually(async () => logs.lines().filter((line) => line.msg === 'new serving certificate refused; keeping the current one').length, (n) => n >= 2);
    expect((await servedCertificate(server.port)).serialNumber).toBe(serialOf(first));

    // The rest of the certificate arrives: now it is served.
    await writeFile(certFile, third.cert);
    await eventually(() => servedCertificate(server.port), (cert) => cert.serialNumber === serialOf(third));
    expect(server.readiness.ready).toBe(true);
  });

  it('stays not ready, and completes no handshake, until a valid pair appears', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tollgate-rotation-'));
    const certFile = path.join(dir, 'tls.crt');
    const keyFile = path.join(dir, 'tls.key');
    const [first] = pairs as [PemPair];
    const { server } = await start(certFile, keyFile);

    expect(server.readiness.ready).toBe(false);
    const readyz = await server.app.inject({ method: 'GET', url: '/readyz' });
    expect(readyz.statusCode).toBe(503);
    expect(readyz.body).toMatch(/certificate: no valid serving certificate yet/);
    await expect(servedCertificate(server.port)).rejects.toThrow();

    await writePair(certFile, keyFile, first);
    await eventually(async () => server.readiness.ready, (ready) => ready);
    expect((await servedCertificate(server.port)).serialNumber).toBe(serialOf(first));
    expect((await server.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  });
});

describe('TLS versions and client certificates', () => {
  it('speaks TLS 1.3 only by default, before and after a rotation; 1.2 when asked', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tollgate-tls-'));
    const certFile = path.join(dir, 'tls.crt');
    const keyFile = path.join(dir, 'tls.key');
    const [first, second] = pairs as [PemPair, PemPair];
    await writePair(certFile, keyFile, first);
    const { server } = await start(certFile, keyFile);
    await expect(servedCertificate(server.port, { maxVersion: 'TLSv1.2' })).rejects.toThrow(/version|protocol/i);
    await writePair(certFile, keyFile, second);
    await eventually(() => servedCertificate(server.port), (cert) => cert.serialNumber === serialOf(second));
    await expect(servedCertificate(server.port, { maxVersion: 'TLSv1.2' })).rejects.toThrow(/version|protocol/i);
    await server.close();

    const relaxed = await start(certFile, keyFile, { tlsMinVersion: 'TLSv1.2' });
    expect((await servedCertificate(relaxed.server.port, { maxVersion: 'TLSv1.2' })).serialNumber).toBe(serialOf(second));
  });

  it('with --client-ca, answers reviews only to a client certificate of that CA with a pinned name; probes need none', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tollgate-mtls-'));
    const certFile = path.join(dir, 'tls.crt');
    const keyFile = path.join(dir, 'tls.key');
    const clientCaFile = path.join(dir, 'client-ca.crt');
    const [first] = pairs as [PemPair];
    await writePair(certFile, keyFile, first);
    const clientCa = createCertificateAuthority('apiserver client CA', 1);
    await writeFile(clientCaFile, clientCa.cert);
    const apiserver = createClientCertificate('kube-apiserver-webhook-client', 1, clientCa);
    const stranger = createClientCertificate('someone-else', 1, clientCa);
    const forged = createClientCertificate('kube-apiserver-webhook-client', 1, createCertificateAuthority('another CA', 1));
    const { server } = await start(certFile, keyFile, { clientCaFile, clientNames: ['kube-apiserver-webhook-client'] });

    const review = JSON.stringify(reviewFor(pod(['nginx']), { uid: 'mtls-1' }));
    const post = (client?: PemPair, url = '/validate') => request(server.port, url, client, url === '/validate' ? review : undefined);

    const allowed = await post(apiserver);
    expect(allowed.status).toBe(200);
    expect(JSON.parse(allowed.body).response).toMatchObject({ uid: 'mtls-1', allowed: true });
    for (const client of [undefined, stranger, forged]) {
      const refused = await post(client);
      expect(refused.status).toBe(403);
      expect(JSON.parse(refused.body).code).toBe('TG_ERR_CLIENT_CERTIFICATE');
    }
    expect((await post(undefined, '/healthz')).status).toBe(200);
    expect((await post(undefined, '/readyz')).status).toBe(200);
  });
});

function request(port: number, url: string, client: PemPair | undefined, body: string | undefined): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca: ca.cert, servername: 'localhost', ...(client ? { cert: client.cert, key: client.key } : {}) }, () => {
      socket.write(
        `${body === undefined ? 'GET' : 'POST'} ${url} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n` +
          (body === undefined ? '\r\n' : `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`),
      );
    });
    let raw = '';
    socket.setEncoding('utf8');
    socket.setTimeout(5_000, () => socket.destroy(new Error('timed out')));
    socket.on('data', (chunk: string) => (raw += chunk));
    socket.on('end', () => {
      const [head = '', ...rest] = raw.split('\r\n\r\n');
      resolve({ status: Number(head.split(' ')[1]), body: decodeChunked(head, rest.join('\r\n\r\n')) });
    });
    socket.on('error', reject);
  });
}

function decodeChunked(head: string, body: string): string {
  if (!/transfer-encoding: chunked/i.test(head)) return body;
  let out = '';
  let rest = body;
  for (;;) {
    const newline = rest.indexOf('\r\n');
    const size = parseInt(rest.slice(0, newline), 16);
    if (!size) return out;
    out += rest.slice(newline + 2, newline + 2 + size);
    rest = rest.slice(newline + 4 + size);
  }
}
