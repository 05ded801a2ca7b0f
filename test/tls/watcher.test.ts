// The certificate watcher on its own: the backstop poll, the one-line-per-bad-pair log, unchanged reads.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createCertificateAuthority, createServingCertificate } from '../../src/tls/certificates.js';
import { CertificateWatcher, servingPairProblem } from '../../src/tls/watcher.js';
import { memoryLogger } from '../helpers/logs.js';

const ca = createCertificateAuthority('watcher test CA', 1);
const [first, second] = [0, 1].map(() => createServingCertificate('localhost', { dns: ['localhost'] }, 1, ca)) as [typeof ca, typeof ca];
let dir: string;
let watcher: CertificateWatcher | undefined;

afterEach(async () => {
  watcher?.close();
  watcher = undefined;
  await rm(dir, { recursive: true, force: true });
});

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('CertificateWatcher', () => {
  it('picks up a pair by polling when its directory did not exist to be watched', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tollgate-watcher-'));
    const tlsDir = path.join(dir, 'later');
    const { logger, lines } = memoryLogger();
    watcher = new CertificateWatcher({ certFile: path.join(tlsDir, 'tls.crt'), keyFile: path.join(tlsDir, 'tls.key'), logger, pollIntervalMs: 100 });
    const changes: string[] = [];
    watcher.onChange((pair) => changes.push(pair.serialNumber));
    expect(await watcher.start()).toBeUndefined();
    expect(lines().some((line) => line.msg === 'no valid serving certificate yet')).toBe(true);

    await mkdir(tlsDir);
    await writeFile(path.join(tlsDir, 'tls.key'), first.key);
    await writeFile(path.join(tlsDir, 'tls.crt'), first.cert);
    await until(() => changes.length === 1);
    expect(watcher.current?.cert).toBe(first.cert);
    expect(await watcher.reload()).toBe('unchanged');
    expect(changes).toHaveLength(1);
  });

  it('logs a bad pair once, however often it is read, and takes the next good one', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tollgate-watcher-'));
    const certFile = path.join(dir, 'tls.crt');
    const keyFile = path.join(dir, 'tls.key');
    await writeFile(certFile, first.cert);
    await writeFile(keyFile, first.key);
    const { logger, lines } = memoryLogger();
    watcher = new CertificateWatcher({ certFile, keyFile, logger, pollIntervalMs: 60_000, retryMs: 60_000 });
    await watcher.start();
    await writeFile(certFile, second.cert);
    for (let i = 0; i < 3; i++) expect(await watcher.reload()).toBe('refused');
    expect(lines().filter((line) => line.msg === 'new serving certificate refused; keeping the current one')).toHaveLength(1);
    expect(watcher.current?.cert).toBe(first.cert);
    await writeFile(keyFile, second.key);
    await until(() => watcher?.current?.cert === second.cert);
  });

  it('names what is wrong with a pair', () => {
    expect(servingPairProblem(first.cert, first.key)).toBeUndefined();
    expect(servingPairProblem(first.cert, second.key)).toMatch(/key does not belong/);
    expect(servingPairProblem('not a certificate', first.key)).toBeDefined();
    expect(servingPairProblem(first.cert, 'not a key')).toBeDefined();
  });
});
