// The certificate bootstrap behind `tollgate certs`: a CA and a serving certificate for a Service,
// kept as PEM files in one directory. A valid CA is reused; the serving certificate is issued again
// only when it is missing, broken, signed by another CA, for other names, or in its last third.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { chmod, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCodes, TollgateError, describeError } from '../errors.js';
import { canonicalIp, createCertificateAuthority, createServingCertificate, inspectCertificate, splitPemCertificates, type CertificateInfo, type PemPair } from './certificates.js';
import { writeFileAtomic } from './dev-certificate.js';

/** The files of a certificate directory; the names are those of a `kubernetes.io/tls` Secret. */
export const CERT_FILES = {
  caCert: 'ca.crt',
  caKey: 'ca.key',
  /** What the webhook configurations' caBundle carries: the current CA, then older CAs still trusted. */
  caBundle: 'ca-bundle.crt',
  cert: 'tls.crt',
  key: 'tls.key',
} as const;

export type CertFile = keyof typeof CERT_FILES;
/** PEM contents by file; a missing file is absent. */
export type CertMaterial = Partial<Record<CertFile, string>>;

export const DEFAULT_SERVING_DAYS = 365;
export const DEFAULT_CA_DAYS = 3650;
/** A certificate in the last third of its lifetime is due for renewal (cert-manager's default). */
const RENEW_FRACTION = 1 / 3;
const KEY_MODE = 0o600;
const CERT_MODE = 0o644;

export interface BootstrapOptions {
  service: string;
  namespace: string;
  outDir: string;
  /** Validity of the serving certificate; it is cut short where the CA expires first. */
  days?: number;
  caDays?: number;
  /** Extra SANs, on top of `<service>.<namespace>.svc` and `<service>.<namespace>.svc.cluster.local`. */
  dnsNames?: readonly string[];
  ipAddresses?: readonly string[];
  /** Replace the CA and the serving certificate even when they are valid. */
  force?: boolean;
  /** Keep only the current CA in the bundle (once every replica serves a certificate it signed). */
  pruneBundle?: boolean;
  /** The time renewal is judged at (tests); default now. */
  now?: Date;
}

export type CaAction = 'created' | 'reused' | 'replaced (expired)' | 'replaced (--force)';

export interface BootstrapResult {
  files: Record<CertFile, string>;
  ca: { action: CaAction; info: CertificateInfo; renewalDue: boolean };
  serving: { action: 'issued' | 'reused'; reason: string; info: CertificateInfo };
  /** PEM bundle for the webhook configurations' caBundle. */
  caBundle: string;
  caBundleBase64: string;
  /** The bundle's CAs, current first. */
  trustedCAs: CertificateInfo[];
}

/** The names kube-apiserver dials for a webhook behind a Service. */
export function serviceDnsNames(service: string, namespace: string): string[] {
  return [`${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`];
}

export function certificateFiles(dir: string): Record<CertFile, string> {
  const entries = Object.entries(CERT_FILES).map(([name, file]) => [name, path.resolve(dir, file)]);
  return Object.fromEntries(entries) as Record<CertFile, string>;
}

/** Reads whichever certificate files exist in `dir`. */
export async function readCertificateDirectory(dir: string): Promise<CertMaterial> {
  const files = certificateFiles(dir);
  const material: CertMaterial = {};
  for (const name of Object.keys(files) as CertFile[]) {
    try {
      material[name] = await readFile(files[name], 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new TollgateError(ErrorCodes.TG_ERR_TLS, `cannot read ${files[name]}: ${describeError(err)}`, { cause: err });
      }
    }
  }
  return material;
}

/** Writes the given files into `dir` (keys 0600), leaving a file alone when its content is unchanged. */
export async function writeCertificateDirectory(dir: string, material: CertMaterial, existing: CertMaterial = {}): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const files = certificateFiles(dir);
  // Keys first: a server watching this directory then never sees a new certificate beside an old key for long.
  const order: CertFile[] = ['caKey', 'caCert', 'key', 'cert', 'caBundle'];
  for (const name of order) {
    const contents = material[name];
    if (contents === undefined) continue;
    const mode = name === 'key' || name === 'caKey' ? KEY_MODE : CERT_MODE;
    if (existing[name] === contents) await chmod(files[name], mode);
    else await writeFileAtomic(files[name], contents, mode);
  }
}

function renewalDue(info: CertificateInfo, now: number): boolean {
  const lifetime = info.notAfter.getTime() - info.notBefore.getTime();
  return info.notAfter.getTime() - now < lifetime * RENEW_FRACTION;
}

function usableCA(material: CertMaterial, files: Record<CertFile, string>): { pair: PemPair; x509: X509Certificate } | undefined {
  const { caCert, caKey } = material;
  if (caCert === undefined && caKey === undefined) return undefined;
  const hint = 'pass --force to replace it with a new CA (every caBundle must then be updated)';
  if (caCert === undefined || caKey === undefined) {
    const [present, missing] = caCert === undefined ? [files.caKey, files.caCert] : [files.caCert, files.caKey];
    throw new TollgateError(ErrorCodes.TG_ERR_TLS, `${present} exists but ${missing} does not, so this CA cannot sign; ${hint}`);
  }
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(caCert);
    if (!x509.ca) throw new Error('it is not a CA certificate');
    if (!x509.checkPrivateKey(createPrivateKey(caKey))) throw new Error(`${files.caKey} is not the key of this certificate`);
  } catch (err) {
    throw new TollgateError(ErrorCodes.TG_ERR_TLS, `the CA in ${files.caCert} is unusable (${describeError(err)}); ${hint}`, { cause: err });
  }
  return { pair: { cert: caCert, key: caKey }, x509 };
}

/** Why the serving certificate must be issued again, or undefined when it can stay. */
function servingCertificateProblem(material: CertMaterial, ca: X509Certificate, dnsNames: string[], ipAddresses: string[], now: number): string | undefined {
  const { cert, key } = material;
  if (cert === undefined || key === undefined) return 'none yet';
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
    if (!x509.checkPrivateKey(createPrivateKey(key))) return 'its key does not match';
  } catch (err) {
    return `the existing one is unreadable (${describeError(err)})`;
  }
  if (!x509.checkIssued(ca) || !x509.verify(ca.publicKey)) return 'the existing one was signed by another CA';
  const info = inspectCertificate(x509);
  const sameSet = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((name) => b.includes(name));
  if (!sameSet(info.dnsNames, dnsNames) || !sameSet(info.ipAddresses, ipAddresses)) return 'the names asked for changed';
  if (renewalDue(info, now)) return `the existing one expires on ${info.notAfter.toISOString()}`;
  return undefined;
}

/** Makes or renews the CA and serving certificate in `options.outDir`. */
export async function bootstrapCertificates(options: BootstrapOptions): Promise<BootstrapResult> {
  const now = options.now?.getTime() ?? Date.now();
  const files = certificateFiles(options.outDir);
  const existing = await readCertificateDirectory(options.outDir);
  const dnsNames = [...new Set([...serviceDnsNames(options.service, options.namespace), ...(options.dnsNames ?? [])])];
  const ipAddresses = [...new Set((options.ipAddresses ?? []).map(canonicalIp))];
  let previousCA: ReturnType<typeof usableCA>;
  const retiring: string[] = [];
  try {
    previousCA = usableCA(existing, files);
  } catch (err) {
    if (!options.force) throw err;
    // Forced past a CA that cannot sign: its certificate may still be what replicas are serving under.
    if (existing.caCert !== undefined) retiring.push(existing.caCert);
  }

  let ca: PemPair;
  let caAction: CaAction;
  if (!previousCA) {
    ca = createCertificateAuthority(`${options.service}.${options.namespace} webhook CA`, options.caDays ?? DEFAULT_CA_DAYS);
    caAction = retiring.length > 0 ? 'replaced (--force)' : 'created';
  } else if (Date.parse(previousCA.x509.validTo) <= now) {
    ca = createCertificateAuthority(`${options.service}.${options.namespace} webhook CA`, options.caDays ?? DEFAULT_CA_DAYS);
    caAction = 'replaced (expired)';
  } else if (options.force) {
    ca = createCertificateAuthority(`${options.service}.${options.namespace} webhook CA`, options.caDays ?? DEFAULT_CA_DAYS);
    caAction = 'replaced (--force)';
    // Replicas still serve certificates of the old CA until they pick up the new pair.
    retiring.push(previousCA.pair.cert);
  } else {
    ca = previousCA.pair;
    caAction = 'reused';
  }
  const caX509 = new X509Certificate(ca.cert);

  const problem = caAction === 'reused' ? servingCertificateProblem(existing, caX509, dnsNames, ipAddresses, now) : `the CA was ${caAction}`;
  const serving: PemPair =
    problem === undefined && existing.cert !== undefined && existing.key !== undefined
      ? { cert: existing.cert, key: existing.key }
      : createServingCertificate(dnsNames[0] ?? options.service, { dns: dnsNames, ips: ipAddresses }, options.days ?? DEFAULT_SERVING_DAYS, ca);

  const bundled = [ca.cert, ...retiring, ...(options.pruneBundle ? [] : splitPemCertificates(existing.caBundle ?? ''))];
  const seen = new Set<string>();
  const trusted: Array<{ pem: string; info: CertificateInfo }> = [];
  for (const pem of bundled) {
    let info: CertificateInfo;
    try {
      info = inspectCertificate(pem);
    } catch {
      continue;
    }
    if (seen.has(info.fingerprint256) || info.notAfter.getTime() <= now) continue;
    seen.add(info.fingerprint256);
    trusted.push({ pem, info });
  }
  const caBundle = trusted.map((entry) => entry.pem).join('');

  await writeCertificateDirectory(options.outDir, { caKey: ca.key, caCert: ca.cert, key: serving.key, cert: serving.cert, caBundle }, existing);
  const caInfo = inspectCertificate(caX509);
  return {
    files,
    ca: { action: caAction, info: caInfo, renewalDue: renewalDue(caInfo, now) },
    serving: { action: problem === undefined ? 'reused' : 'issued', reason: problem ?? 'still valid', info: inspectCertificate(serving.cert) },
    caBundle,
    caBundleBase64: Buffer.from(caBundle).toString('base64'),
    trustedCAs: trusted.map((entry) => entry.info),
  };
}
