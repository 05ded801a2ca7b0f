// Certificate making with node-forge: key pairs, a CA, serving certificates with the SANs an
// apiserver dials, client certificates, and a read-out of a PEM certificate with node:crypto.
import forge from 'node-forge';
import { X509Certificate, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';

const { pki } = forge;

export interface PemPair {
  cert: string;
  key: string;
}

export interface SubjectAltNames {
  dns?: string[];
  ips?: string[];
}

/** RSA 2048: node-forge cannot make ECDSA certificates, and 2048 bits is the floor for a serving key. */
export const RSA_KEY_BITS = 2048;
/** notBefore is set this far in the past, so a node whose clock runs a little behind accepts a fresh certificate. */
const CLOCK_SKEW_MS = 5 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

function serialNumber(): string {
  // Positive 128-bit serial: the top bit cleared so it never reads as negative.
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString('hex');
}

function validity(cert: forge.pki.Certificate, days: number, notAfterLimit?: Date): void {
  const now = Date.now();
  cert.validity.notBefore = new Date(now - CLOCK_SKEW_MS);
  const notAfter = now + days * DAY_MS;
  // A certificate that outlives its issuer fails verification from the day the issuer expires.
  cert.validity.notAfter = new Date(notAfterLimit ? Math.min(notAfter, notAfterLimit.getTime()) : notAfter);
}

function altNames(names: SubjectAltNames): Array<{ type: number; value?: string; ip?: string }> {
  return [...(names.dns ?? []).map((value) => ({ type: 2, value })), ...(names.ips ?? []).map((ip) => ({ type: 7, ip }))];
}

/** A self-signed CA able to sign serving certificates. */
export function createCertificateAuthority(commonName: string, days: number): PemPair {
  const keys = pki.rsa.generateKeyPair({ bits: RSA_KEY_BITS });
  const cert = pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serialNumber();
  validity(cert, days);
  const subject = [{ name: 'commonName', value: commonName }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { cert: pki.certificateToPem(cert), key: pki.privateKeyToPem(keys.privateKey) };
}

type ExtendedKeyUsage = 'serverAuth' | 'clientAuth';

function issueLeaf(commonName: string, names: SubjectAltNames, days: number, usage: ExtendedKeyUsage, issuer?: PemPair): PemPair {
  const keys = pki.rsa.generateKeyPair({ bits: RSA_KEY_BITS });
  const cert = pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serialNumber();
  cert.setSubject([{ name: 'commonName', value: commonName }]);
  const extensions: object[] = [
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', [usage]: true },
    ...(names.dns?.length || names.ips?.length ? [{ name: 'subjectAltName', altNames: altNames(names) }] : []),
    { name: 'subjectKeyIdentifier' },
  ];
  if (issuer) {
    const issuerCert = pki.certificateFromPem(issuer.cert);
    validity(cert, days, issuerCert.validity.notAfter);
    cert.setIssuer(issuerCert.subject.attributes);
    extensions.push({ name: 'authorityKeyIdentifier', keyIdentifier: issuerCert.generateSubjectKeyIdentifier().getBytes() });
    cert.setExtensions(extensions);
    cert.sign(pki.privateKeyFromPem(issuer.key), forge.md.sha256.create());
  } else {
    validity(cert, days);
    cert.setIssuer(cert.subject.attributes);
    cert.setExtensions(extensions);
    cert.sign(keys.privateKey, forge.md.sha256.create());
  }
  return { cert: pki.certificateToPem(cert), key: pki.privateKeyToPem(keys.privateKey) };
}

/**
 * A serving certificate (serverAuth, not a CA) for `names`, signed by `issuer`, or self-signed when
 * no issuer is given. The SANs are DNS- and IP-typed, as the apiserver's TLS client checks them.
 * It never outlives its issuer.
 */
export function createServingCertificate(commonName: string, names: SubjectAltNames, days: number, issuer?: PemPair): PemPair {
  return issueLeaf(commonName, names, days, 'serverAuth', issuer);
}

/** A client certificate (clientAuth), as kube-apiserver presents to a webhook that asks for one. */
export function createClientCertificate(commonName: string, days: number, issuer: PemPair, names: SubjectAltNames = {}): PemPair {
  return issueLeaf(commonName, names, days, 'clientAuth', issuer);
}

/** What tollgate reads off a certificate: enough to log it, compare it and publish its expiry. */
export interface CertificateInfo {
  subject: string;
  serialNumber: string;
  /** SHA-256 fingerprint, colon-separated hex, as openssl prints it. */
  fingerprint256: string;
  notBefore: Date;
  notAfter: Date;
  isCA: boolean;
  dnsNames: string[];
  ipAddresses: string[];
}

/** Reads the first certificate of a PEM text; throws when there is none or it does not parse. */
export function inspectCertificate(pem: string | X509Certificate): CertificateInfo {
  const x509 = typeof pem === 'string' ? new X509Certificate(pem) : pem;
  const sans = (x509.subjectAltName ?? '').split(/,\s*/).filter((entry) => entry !== '');
  return {
    subject: x509.subject,
    serialNumber: x509.serialNumber,
    fingerprint256: x509.fingerprint256,
    notBefore: new Date(x509.validFrom),
    notAfter: new Date(x509.validTo),
    isCA: x509.ca,
    dnsNames: sans.filter((entry) => entry.startsWith('DNS:')).map((entry) => entry.slice('DNS:'.length)),
    ipAddresses: sans.filter((entry) => entry.startsWith('IP Address:')).map((entry) => canonicalIp(entry.slice('IP Address:'.length))),
  };
}

/** An IP address as it is usually written: IPv6 compressed (`::1`, where Node prints `0:0:0:0:0:0:0:1`). */
export function canonicalIp(ip: string): string {
  return isIP(ip) === 6 ? new URL(`http://[${ip}]`).hostname.slice(1, -1) : ip;
}

/** Every certificate of a PEM text (a bundle or a chain), in order. */
export function splitPemCertificates(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map((block) => `${block}\n`) ?? [];
}
