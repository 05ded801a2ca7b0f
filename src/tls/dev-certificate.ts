// The self-signed development certificate `tollgate serve` uses when given no --cert/--key: made
// once under certs/, reused while it is valid for long enough.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createServingCertificate, type PemPair } from './certificates.js';

export const DEV_CERT_FILE = 'dev-tls.crt';
export const DEV_KEY_FILE = 'dev-tls.key';
export const DEV_CERT_DAYS = 30;
/** A development certificate closer than this to expiry is made anew. */
const RENEW_BEFORE_MS = 24 * 60 * 60 * 1000;
export const DEV_CERT_NAMES = { dns: ['localhost'], ips: ['127.0.0.1', '::1'] };

export interface DevCertificate extends PemPair {
  certFile: string;
  keyFile: string;
  created: boolean;
}

async function readValid(certFile: string, keyFile: string): Promise<PemPair | undefined> {
  try {
    const [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
    const x509 = new X509Certificate(cert);
    if (Date.parse(x509.validTo) - Date.now() < RENEW_BEFORE_MS) return undefined;
    if (!x509.checkPrivateKey(createPrivateKey(key))) return undefined;
    return { cert, key };
  } catch {
    return undefined;
  }
}

/** Writes a file atomically (temp file, then rename) with the given mode. */
export async function writeFileAtomic(file: string, contents: string, mode: number): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, contents, { mode });
  await chmod(temp, mode);
  await rename(temp, file);
}

/** Returns the development certificate in `dir`, making it first when missing or expiring. */
export async function ensureDevCertificate(dir: string): Promise<DevCertificate> {
  const certFile = path.resolve(dir, DEV_CERT_FILE);
  const keyFile = path.resolve(dir, DEV_KEY_FILE);
  const existing = await readValid(certFile, keyFile);
  if (existing) return { ...existing, certFile, keyFile, created: false };
  await mkdir(dir, { recursive: true });
  const pair = createServingCertificate('tollgate development', DEV_CERT_NAMES, DEV_CERT_DAYS);
  await writeFileAtomic(keyFile, pair.key, 0o600);
  await writeFileAtomic(certFile, pair.cert, 0o644);
  return { ...pair, certFile, keyFile, created: true };
}
