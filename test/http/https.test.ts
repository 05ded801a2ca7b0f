// The real server over real TLS: started as `serve` starts it, called by a verifying client.
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/http/serve.js';
import { memoryLogger } from '../helpers/logs.js';
import { httpsRequest } from '../helpers/https.js';
import { decodePatch } from '../helpers/policies.js';
import { pod, reviewFor } from '../helpers/reviews.js';

let dir: string;
let server: RunningServer;
let ca: string;
const logs = memoryLogger();

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'tollgate-https-'));
  server = await startServer({ logger: logs.logger, port: 0, host: '127.0.0.1', devCertDir: dir });
  ca = await readFile(path.join(dir, 'dev-tls.crt'), 'utf8');
});
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('tollgate over HTTPS with the development certificate', () => {
  it('makes a certificate for localhost with DNS and IP SANs, and a 0600 key, and says so in the log', async () => {
    const x509 = new X509Certificate(ca);
    expect(x509.subjectAltName).toContain('DNS:localhost');
    expect(x509.subjectAltName).toContain('IP Address:127.0.0.1');
    expect((await stat(path.join(dir, 'dev-tls.key'))).mode & 0o777).toBe(0o600);
    expect(logs.lines().some((l) => String(l.msg).includes('self-signed development certificate'))).toBe(true);
  });

  it('serves reviews to a client that verifies the certificate chain and host name', async () => {
    const denied = await httpsRequest(`${server.url}/validate?timeout=10s`, ca, { method: 'POST', body: JSON.stringify(reviewFor(pod(['evil.io/x']), { uid: 'tls-1' })) });
    expect(denied.status).toBe(200);
    expect(JSON.parse(denied.body).response).toMatchObject({ uid: 'tls-1', allowed: false });

    const mutated = await httpsRequest(`${server.url}/mutate`, ca, { method: 'POST', body: JSON.stringify(reviewFor(pod(['nginx']), { uid: 'tls-2' })) });
    const response = JSON.parse(mutated.body).response;
    expect(response).toMatchObject({ uid: 'tls-2', allowed: true, patchType: 'JSONPatch' });
    expect(decodePatch(response.patch)).toHaveLength(1);
  });

  it('serves a realistic multi-MiB review (object and oldObject)', async () => {
    const big = pod(['nginx'], { annotations: { blob: 'x'.repeat(3 * 1024 * 1024) } });
    const body = JSON.stringify(reviewFor(big, { operation: 'UPDATE', oldObject: big }));
    expect(body.length).toBeGreaterThan(6 * 1024 * 1024);
    const result = await httpsRequest(`${server.url}/validate`, ca, { method: 'POST', body });
    expect(result.status).toBe(200);
    expect(JSON.parse(result.body).response.allowed).toBe(true);
  });

  it('is ready once policies and certificate are loaded', async () => {
    expect((await httpsRequest(`${server.url}/readyz`, ca)).status).toBe(200);
    expect((await httpsRequest(`${server.url}/healthz`, ca)).body).toBe('ok');
  });

  it('refuses a client that does not trust its certificate', async () => {
    const otherCa = (await import('../../src/tls/certificates.js')).createCertificateAuthority('someone else', 1).cert;
    await expect(httpsRequest(`${server.url}/healthz`, otherCa)).rejects.toThrow(/self-signed|unable to verify|certificate/i);
  });

  it('reuses a valid development certificate rather than making a new one', async () => {
    const again = await startServer({ logger: memoryLogger().logger, port: 0, host: '127.0.0.1', devCertDir: dir });
    try {
      expect(await readFile(path.join(dir, 'dev-tls.crt'), 'utf8')).toBe(ca);
    } finally {
      await again.close();
    }
  });
});
