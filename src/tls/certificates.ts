// Certificate making with node-forge: key pairs, a CA, serving certificates with the SANs an
// apiserver dials, and the self-signed development certificate `serve` makes when given none.
import forge from 'node-forge';
import { randomBytes } from 'node:crypto';

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

function serialNumber(): string {
  // Positive 128-bit serial: the top bit cleared so it never reads as negative.
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString('hex');
}

function validity(cert: forge.pki.Certificate, days: number): void {
  const now = Date.now();
  cert.validity.notBefore = new Date(now - 5 * 60 * 1000); // tolerate small clock skew
  cert.validity.notAfter = new Date(now + days * 24 * 60 * 60 * 1000);
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

/**
 * A serving certificate (serverAuth, not a CA) for `names`, signed by `issuer`, or self-signed when
 * no issuer is given. The SANs are DNS- and IP-typed, as the apiserver's TLS client checks them.
 */
export function createServingCertificate(commonName: string, names: SubjectAltNames, days: number, issuer?: PemPair): PemPair {
  const keys = pki.rsa.generateKeyPair({ bits: RSA_KEY_BITS });
  const cert = pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serialNumber();
  validity(cert, days);
  cert.setSubject([{ name: 'commonName', value: commonName }]);
  const extensions: object[] = [
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: altNames(names) },
    { name: 'subjectKeyIdentifier' },
  ];
  if (issuer) {
    const issuerCert = pki.certificateFromPem(issuer.cert);
    cert.setIssuer(issuerCert.subject.attributes);
    extensions.push({ name: 'authorityKeyIdentifier', keyIdentifier: issuerCert.generateSubjectKeyIdentifier().getBytes() });
    cert.setExtensions(extensions);
    cert.sign(pki.privateKeyFromPem(issuer.key), forge.md.sha256.create());
  } else {
    cert.setIssuer(cert.subject.attributes);
    cert.setExtensions(extensions);
    cert.sign(keys.privateKey, forge.md.sha256.create());
  }
  return { cert: pki.certificateToPem(cert), key: pki.privateKeyToPem(keys.privateKey) };
}
