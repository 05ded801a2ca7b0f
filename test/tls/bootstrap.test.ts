// The certificate bootstrap: what it writes, judged by openssl's exit codes; what a re-run keeps,
// re-issues or refuses; and the CA bundle across a CA rotation.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/errors.js';
import { bootstrapCertificates, type BootstrapOptions } from '../../src/tls/bootstrap.js';
import { createCertificateAuthority, createServingCertificate, splitPemCertificates } from '../../src/tls/certificates.js';

let dir: string;
const base = (): BootstrapOptions => ({ service: 'tollgate', namespace: 'tollgate-system', outDir: dir });

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'tollgate-certs-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function openssl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('openssl', args, { timeout: 10_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

const file = (name: string) => path.join(dir, name);
const read = (name: string) => readFile(file(name), 'utf8');

describe('tollgate certs bootstrap', () => {
  it('writes a CA and a serving certificate that openssl verifies, with the names the apiserver dials', async () => {
    const result = await bootstrapCertificates({ ...base(), dnsNames: ['tollgate.example.com'], ipAddresses: ['127.0.0.1'] });
    expect(result.ca.action).toBe('created');
    expect(result.serving.action).toBe('issued');

    const verify = await openssl(['verify', '-CAfile', file('ca.crt'), file('tls.crt')]);
    expect(verify.code, verify.stderr).toBe(0);
    const bundleVerify = await openssl(['verify', '-CAfile', file('ca-bundle.crt'), file('tls.crt')]);
    expect(bundleVerify.code, bundleVerify.stderr).toBe(0);

    const text = await openssl(['x509', '-noout', '-text', '-in', file('tls.crt')]);
    expect(text.code).toBe(0);
    for (const name of ['DNS:tollgate.tollgate-system.svc', 'DNS:tollgate.tollgate-system.svc.cluster.local', 'DNS:tollgate.example.com', 'IP Address:127.0.0.1']) {
      expect(text.stdout).toContain(name);
    }
    expect(text.stdout).toMatch(/CA:FALSE/);
    expect(text.stdout).toMatch(/TLS Web Server Authentication/);
    expect(text.stdout).toMatch(/Public-Key: \((\d+) bit\)/);
    expect(Number(/Public-Key: \((\d+) bit\)/.exec(text.stdout)?.[1])).toBeGreaterThanOrEqual(2048);

    const caText = await openssl(['x509', '-noout', '-text', '-in', file('ca.crt')]);
    expect(caText.stdout).toMatch(/CA:TRUE/);
    // The serving key really is the certificate's key.
    const [certKey, key] = await Promise.all([
      openssl(['x509', '-noout', '-pubkey', '-in', file('tls.crt')]),
      openssl(['pkey', '-pubout', '-in', file('tls.key')]),
    ]);
    expect(key.code).toBe(0);
    expect(certKey.stdout).toBe(key.stdout);

    for (const name of ['tls.key', 'ca.key']) expect((await stat(file(name))).mode & 0o777).toBe(0o600);
    expect(Buffer.from(result.caBundleBase64, 'base64').toString()).toBe(await read('ca.crt'));
  });

  it('reuses a valid CA and serving certificate on a re-run, byte for byte', async () => {
    await bootstrapCertificates(base());
    const before = await Promise.all(['ca.crt', 'ca.key', 'tls.crt', 'tls.key', 'ca-bundle.crt'].map(read));
    const again = await bootstrapCertificates(base());
    expect(again.ca.action).toBe('reused');
    expect(again.serving.action).toBe('reused');
    expect(await Promise.all(['ca.crt', 'ca.key', 'tls.crt', 'tls.key', 'ca-bundle.crt'].map(read))).toEqual(before);
  });

  it('reuses a certificate for IPv6 addresses, however they are written', async () => {
    const first = await bootstrapCertificates({ ...base(), ipAddresses: ['::1', '127.0.0.1'] });
    expect(first.serving.info.ipAddresses).toEqual(['::1', '127.0.0.1']);
    const again = await bootstrapCertificates({ ...base(), ipAddresses: ['0:0:0:0:0:0:0:1', '127.0.0.1'] });
    expect(again.serving.action).toBe('reused');
  });

  it('keeps the CA but re-issues the serving certificate when the names change, or it nears its end', async () => {
    await bootstrapCertificates(base());
    const ca = await read('ca.crt');
    const first = await read('tls.crt');
    const renamed = await bootstrapCertificates({ ...base(), dnsNames: ['extra.example.com'] });
    expect(renamed.ca.action).toBe('reused');
    expect(renamed.serving).toMatchObject({ action: 'issued', reason: 'the names asked for changed' });
    expect(await read('ca.crt')).toBe(ca);
    expect(await read('tls.crt')).not.toBe(first);
    expect((await openssl(['verify', '-CAfile', file('ca.crt'), file('tls.crt')])).code).toBe(0);

    const lateInLife = new Date(Date.now() + 300 * 24 * 60 * 60 * 1000);
    const renewed = await bootstrapCertificates({ ...base(), dnsNames: ['extra.example.com'], now: lateInLife });
    expect(renewed.serving.action).toBe('issued');
    expect(renewed.serving.reason).toMatch(/expires on/);
    expect(renewed.ca.action).toBe('reused');
  });

  it('re-issues a serving certificate signed by another CA, or whose key does not match', async () => {
    await bootstrapCertificates(base());
    const stranger = createServingCertificate('tollgate.tollgate-system.svc', { dns: ['tollgate.tollgate-system.svc', 'tollgate.tollgate-system.svc.cluster.local'] }, 30, createCertificateAuthority('other', 30));
    await writeFile(file('tls.crt'), stranger.cert);
    await writeFile(file('tls.key'), stranger.key);
    expect((await bootstrapCertificates(base())).serving.reason).toBe('the existing one was signed by another CA');
    await writeFile(file('tls.key'), stranger.key);
    expect((await bootstrapCertificates(base())).serving.reason).toBe('its key does not match');
    expect((await openssl(['verify', '-CAfile', file('ca.crt'), file('tls.crt')])).code).toBe(0);
  });

  it('refuses to replace a CA it cannot use unless forced, and touches nothing', async () => {
    await bootstrapCertificates(base());
    const ca = await read('ca.crt');
    await unlink(file('ca.key'));
    await expect(bootstrapCertificates(base())).rejects.toMatchObject({ code: ErrorCodes.TG_ERR_TLS, message: expect.stringMatching(/ca\.key does not.*--force/) });
    await writeFile(file('ca.key'), createCertificateAuthority('other', 1).key);
    await expect(bootstrapCertificates(base())).rejects.toMatchObject({ code: ErrorCodes.TG_ERR_TLS, message: expect.stringMatching(/not the key.*--force/) });
    expect(await read('ca.crt')).toBe(ca);

    const forced = await bootstrapCertificates({ ...base(), force: true });
    expect(forced.ca.action).toBe('replaced (--force)');
    expect(await read('ca.crt')).not.toBe(ca);
  });

  it('on a forced CA rotation, trusts old and new CA until the bundle is pruned', async () => {
    await bootstrapCertificates(base());
    const oldCa = await read('ca.crt');
    const oldServing = await read('tls.crt');
    const rotated = await bootstrapCertificates({ ...base(), force: true });
    expect(rotated.trustedCAs).toHaveLength(2);
    const bundle = await read('ca-bundle.crt');
    const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;
    expect(splitPemCertificates(bundle).map(fingerprint)).toEqual([fingerprint(await read('ca.crt')), fingerprint(oldCa)]);
    // Both a replica still on the old certificate and one on the new verify against the bundle.
    await writeFile(file('old-tls.crt'), oldServing);
    expect((await openssl(['verify', '-CAfile', file('ca-bundle.crt'), file('old-tls.crt')])).code).toBe(0);
    expect((await openssl(['verify', '-CAfile', file('ca-bundle.crt'), file('tls.crt')])).code).toBe(0);
    // A later run keeps the old CA in the bundle...
    expect((await bootstrapCertificates(base())).trustedCAs).toHaveLength(2);
    // ...until told every replica serves the new chain.
    const pruned = await bootstrapCertificates({ ...base(), pruneBundle: true });
    expect(pruned.trustedCAs).toHaveLength(1);
    expect(await read('ca-bundle.crt')).toBe(await read('ca.crt'));
    expect((await openssl(['verify', '-CAfile', file('ca-bundle.crt'), file('old-tls.crt')])).code).not.toBe(0);
  });

  it('replaces an expired CA, which is then not trusted any longer', async () => {
    const expired = createCertificateAuthority('expired', -1);
    await writeFile(file('ca.crt'), expired.cert);
    await writeFile(file('ca.key'), expired.key);
    await writeFile(file('ca-bundle.crt'), expired.cert);
    const result = await bootstrapCertificates(base());
    expect(result.ca.action).toBe('replaced (expired)');
    expect(result.trustedCAs.map((ca) => ca.fingerprint256)).toEqual([new X509Certificate(await read('ca.crt')).fingerprint256]);
  });

  it('never issues a serving certificate that outlives its CA', async () => {
    const result = await bootstrapCertificates({ ...base(), caDays: 10, days: 365 });
    expect(result.serving.info.notAfter.getTime()).toBeLessThanOrEqual(result.ca.info.notAfter.getTime());
    expect(result.ca.renewalDue).toBe(false);
  });
});
