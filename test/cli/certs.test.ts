// `tollgate certs`: files, manifests and a (fake) cluster, exit codes and messages, and the defaults
// `npm run certs` relies on, through the built binary.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { run } from '../../src/cli/main.js';
import { startFakeApiserver, type FakeApiserver } from '../tls/fake-apiserver.js';

const MANIFESTS = fileURLToPath(new URL('../../manifests/', import.meta.url));
const BIN = path.resolve('dist/src/cli/bin.js');
const WEBHOOKS_API = '/apis/admissionregistration.k8s.io/v1';
const SECRETS_API = '/api/v1/namespaces/tollgate-system/secrets';

let work: string;
beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'tollgate-certs-cli-'));
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

async function certs(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await run(['certs', ...args], {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    stdin: new PassThrough(),
  });
  return { code, stdout, stderr };
}

function caBundlesIn(text: string): unknown[] {
  return parseAllDocuments(text).flatMap((doc) => ((doc.toJS() as { webhooks?: Array<{ clientConfig: { caBundle?: unknown } }> }).webhooks ?? []).map((w) => w.clientConfig.caBundle));
}

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;

describe('tollgate certs', () => {
  it('writes the certificates and the caBundle of the manifests, then reuses them on a re-run', async () => {
    const out = path.join(work, 'out');
    const manifests = path.join(work, 'manifests');
    await cp(MANIFESTS, manifests, { recursive: true });

    const first = await certs(['--out', out, '--manifests', manifests, '--ip', '127.0.0.1', '--dns', 'localhost']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^CA: created/m);
    expect(first.stdout).toMatch(/^serving certificate: issued/m);
    expect(first.stdout).toMatch(/names: tollgate\.tollgate-system\.svc, tollgate\.tollgate-system\.svc\.cluster\.local, localhost, 127\.0\.0\.1/);
    expect(first.stdout).toMatch(/manifests: caBundle set in 2 webhook\(s\)/);
    const bundle = Buffer.from(await readFile(path.join(out, 'ca-bundle.crt'))).toString('base64');
    expect(caBundlesIn(await readFile(path.join(manifests, 'webhooks.yaml'), 'utf8'))).toEqual([bundle, bundle]);

    const again = await certs(['--out', out, '--manifests', manifests, '--ip', '127.0.0.1', '--dns', 'localhost']);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^CA: reused/m);
    expect(again.stdout).toMatch(/^serving certificate: reused \(still valid\)/m);
    expect(again.stdout).toMatch(/manifests: caBundle already set/);
  });

  it.each([
    [['--patch-webhooks'], /--patch-webhooks needs a cluster/],
    [['--in-cluster', '--kubeconfig', 'k'], /--in-cluster goes without/],
    [['--ip', 'not-an-ip'], /must be an IPv4 or IPv6 address/],
    [['--dns', 'UPPER.example.com'], /must be a DNS name/],
    [['--service', 'Bad_Name'], /must be a DNS label/],
    [['--days', '0'], /whole number of days/],
  ])('refuses %j as a usage error (exit 2)', async (args, message) => {
    const result = await certs(['--out', path.join(work, 'out'), ...args]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });

  it('fails (exit 2) when --manifests holds no webhook configuration', async () => {
    await mkdir(path.join(work, 'empty'));
    const result = await certs(['--out', path.join(work, 'out'), '--manifests', path.join(work, 'empty')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/no webhook configuration with webhooks found.*TG_ERR_MANIFEST_READ/);
  });
});

describe('tollgate certs against a cluster', () => {
  let apiserver: FakeApiserver;
  let kubeconfig: string;

  beforeEach(async () => {
    apiserver = await startFakeApiserver();
    kubeconfig = path.join(work, 'kubeconfig');
    await apiserver.writeKubeconfig(kubeconfig);
  });
  afterEach(async () => {
    await apiserver.close();
  });

  async function applyWebhookConfigurations(): Promise<void> {
    for (const doc of parseAllDocuments(await readFile(path.join(MANIFESTS, 'webhooks.yaml'), 'utf8'))) {
      const object = doc.toJS() as { kind: string; metadata: { name: string } };
      apiserver.put(`${WEBHOOKS_API}/${object.kind.toLowerCase()}s/${object.metadata.name}`, object);
    }
  }

  function secretData(name: string): Record<string, string> {
    const secret = apiserver.objects.get(`${SECRETS_API}/${name}`) as { data: Record<string, string> } | undefined;
    return Object.fromEntries(Object.entries(secret?.data ?? {}).map(([key, value]) => [key, Buffer.from(value, 'base64').toString()]));
  }

  it('creates the Secrets and patches the live webhooks; a Job with an empty directory reuses the same CA', async () => {
    await applyWebhookConfigurations();
    const out = path.join(work, 'out');
    const first = await certs(['--out', out, '--kubeconfig', kubeconfig, '--patch-webhooks']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/secret tollgate-system\/tollgate-tls created, secret tollgate-system\/tollgate-tls-ca created/);
    expect(first.stdout).toMatch(/caBundle updated in 1 webhook\(s\) of MutatingWebhookConfiguration tollgate/);
    expect(first.stdout).toMatch(/caBundle updated in 1 webhook\(s\) of ValidatingWebhookConfiguration tollgate/);

    const files = Object.fromEntries(await Promise.all(['ca.crt', 'ca.key', 'ca-bundle.crt', 'tls.crt', 'tls.key'].map(async (f) => [f, await readFile(path.join(out, f), 'utf8')] as const)));
    expect(secretData('tollgate-tls')).toEqual({ 'tls.crt': files['tls.crt'], 'tls.key': files['tls.key'], 'ca.crt': files['ca.crt'] });
    expect(secretData('tollgate-tls-ca')).toEqual({ 'ca.crt': files['ca.crt'], 'ca.key': files['ca.key'], 'ca-bundle.crt': files['ca-bundle.crt'] });
    expect((apiserver.objects.get(`${SECRETS_API}/tollgate-tls`) as unknown as { type: string }).type).toBe('kubernetes.io/tls');
    const bundle = Buffer.from(files['ca-bundle.crt']!).toString('base64');
    for (const kind of ['mutating', 'validating']) {
      const configuration = apiserver.objects.get(`${WEBHOOKS_API}/${kind}webhookconfigurations/tollgate`) as unknown as { webhooks: Array<{ clientConfig: { caBundle: string } }> };
      expect(configuration.webhooks.map((w) => w.clientConfig.caBundle)).toEqual([bundle]);
    }

    const job = await certs(['--out', path.join(work, 'job-empty-dir'), '--kubeconfig', kubeconfig, '--patch-webhooks']);
    expect(job.code, job.stderr).toBe(0);
    expect(job.stdout).toMatch(/cluster: read the CA and certificate from secrets/);
    expect(job.stdout).toMatch(/^CA: reused/m);
    expect(job.stdout).toMatch(/^serving certificate: reused/m);
    expect(job.stdout).toMatch(/secret tollgate-system\/tollgate-tls unchanged, secret tollgate-system\/tollgate-tls-ca unchanged/);
    expect(job.stdout).toMatch(/caBundle unchanged in 1 webhook\(s\) of ValidatingWebhookConfiguration/);
    expect(fingerprint(await readFile(path.join(work, 'job-empty-dir', 'ca.crt'), 'utf8'))).toBe(fingerprint(files['ca.crt']!));
  });

  it('refuses a local CA that differs from the one in the cluster', async () => {
    expect((await certs(['--out', path.join(work, 'a'), '--kubeconfig', kubeconfig])).code).toBe(0);
    expect((await certs(['--out', path.join(work, 'b')])).code).toBe(0);
    const conflict = await certs(['--out', path.join(work, 'b'), '--kubeconfig', kubeconfig]);
    expect(conflict.code).toBe(2);
    expect(conflict.stderr).toMatch(/is not the one in secret tollgate-system\/tollgate-tls-ca/);
  });

  it('says to apply the manifests first when there is no webhook configuration to patch', async () => {
    const result = await certs(['--out', path.join(work, 'out'), '--kubeconfig', kubeconfig, '--patch-webhooks']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/apply the manifests first.*TG_ERR_CLUSTER/);
  });

  it('reports the apiserver refusing the credentials', async () => {
    const wrong = path.join(work, 'wrong-kubeconfig');
    await apiserver.writeKubeconfig(wrong, 'not-the-token');
    const result = await certs(['--out', path.join(work, 'out'), '--kubeconfig', wrong]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/cannot read secret tollgate-system\/tollgate-tls: HTTP 401: Unauthorized/);
  });
});

describe('npm run certs (the built binary, no flags)', () => {
  it('writes certs/tollgate for tollgate.tollgate-system.svc in the working directory', async () => {
    const result = await new Promise<{ code: number; stdout: string }>((resolve) => {
      execFile(process.execPath, [BIN, 'certs'], { cwd: work, timeout: 20_000 }, (error, stdout) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout }));
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/names: tollgate\.tollgate-system\.svc, tollgate\.tollgate-system\.svc\.cluster\.local;/);
    const cert = new X509Certificate(await readFile(path.join(work, 'certs', 'tollgate', 'tls.crt')));
    expect(cert.subjectAltName).toBe('DNS:tollgate.tollgate-system.svc, DNS:tollgate.tollgate-system.svc.cluster.local');
  });
});
