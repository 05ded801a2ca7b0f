import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { run } from '../../src/cli/main.js';
import type { CliIO } from '../../src/cli/io.js';
import { parseManifests } from '../../src/manifests/read.js';

const FIXTURES = path.resolve('test', 'manifests-reader', 'fixtures');

function fakeIO(stdin = ''): CliIO & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    stdin: Readable.from(stdin === '' ? [] : [stdin]),
    out: () => out,
    err: () => err,
  };
}

let dir: string;
let config: string;

const POLICIES = `
policies:
  - module: annotation-injection
    config:
      annotations: { tollgate.dev/checked: "true" }
  - module: image-registry-allowlist
    config:
      registries: [docker.io/library, ghcr.io/acme, quay.io/acme]
`;

const GOOD = `# Source: app/templates/pod.yaml
apiVersion: v1
kind: Pod
metadata: {name: web}
spec: {containers: [{name: web, image: "nginx:1.27"}]}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
`;

/** The Deployment shop/api, its one container running `image`. */
const deployment = (image: string) => `apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
        - {name: api, image: "${image}"}
`;

const BAD_DEPLOYMENT = deployment('docker.io/acmeevil/api:1');

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'tollgate-check-'));
  config = path.join(dir, 'tollgate.yaml');
  await writeFile(config, POLICIES);
  await writeFile(path.join(dir, 'good.yaml'), GOOD);
  await writeFile(path.join(dir, 'bad-deployment.yaml'), BAD_DEPLOYMENT);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function check(args: string[], stdin = '') {
  const io = fakeIO(stdin);
  const code = await run(['check', ...args], io);
  return { code, out: io.out(), err: io.err() };
}

describe('tollgate check: exit codes', () => {
  it('runs two checks at once in one process, which share its hang watchdog', async () => {
    const results = await Promise.all([check(['-c', config, path.join(dir, 'good.yaml')]), check(['-c', config, path.join(dir, 'good.yaml')])]);
    expect(results.map((r) => r.code)).toEqual([0, 0]);
    expect(results.map((r) => r.err)).toEqual(['', '']);
  });

  it('exits 0 when everything is allowed, one text line per object and a summary', async () => {
    const { code, out } = await check(['-c', config, path.join(dir, 'good.yaml')]);
    expect(code).toBe(0);
    const file = path.join(dir, 'good.yaml');
    expect(out).toBe(
      [
        `${file}#1  Pod  default/web  allowed (mutated: 1 patch operation)`,
        `${file}#2  Namespace  shop  allowed (mutated: 1 patch operation)`,
        '2 objects checked: 2 allowed, 0 denied',
        '',
      ].join('\n'),
    );
  });

  it('exits 1 when a Deployment’s pods would be refused, naming policy, field and image', async () => {
    const { code, out } = await check(['-c', config, path.join(dir, 'good.yaml'), path.join(dir, 'bad-deployment.yaml')]);
    expect(code).toBe(1);
    const lines = out.split('\n');
    expect(lines).toContain(`${path.join(dir, 'bad-deployment.yaml')}#1  Deployment  shop/api  DENIED`);
    expect(lines).toContain(
      '    denied by image-registry-allowlist: spec.template.spec.containers[0].image: container "api": image "docker.io/acmeevil/api:1" resolves to docker.io/acmeevil/api, which is not from an allowed registry (allowed: docker.io/library, ghcr.io/acme, quay.io/acme)',
    );
    expect(lines).toContain('3 objects checked: 2 allowed, 1 denied');
  });

  it.each([
    ['no files', [], /missing required argument 'files'/],
    ['an unknown output format', ['-o', 'yaml', 'x.yaml'], /argument 'yaml' is invalid. Allowed choices are text, json/],
    ['a bad namespace', ['-n', 'Not_A_Namespace', 'x.yaml'], /must be a namespace name/],
    ['an unknown flag', ['--fast', 'x.yaml'], /unknown option '--fast'/],
  ])('exits 2 on a usage error: %s', async (_what, args, message) => {
    const { code, err } = await check(args);
    expect(code).toBe(2);
    expect(err).toMatch(message);
  });

  it('exits 2 naming a file that cannot be read', async () => {
    const missing = path.join(dir, 'missing.yaml');
    const { code, err, out } = await check(['-c', config, missing]);
    expect(code).toBe(2);
    expect(out).toBe('');
    expect(err).toContain(`${missing}: cannot read:`);
    expect(err).toContain('(TG_ERR_MANIFEST_READ)');
  });

  it('exits 2 naming the file, document and line that does not parse', async () => {
    const broken = path.join(dir, 'broken.yaml');
    await writeFile(broken, `${GOOD}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n`);
    const { code, err } = await check(['-c', config, broken]);
    expect(code).toBe(2);
    expect(err).toContain(`${broken}: document 3 (line 15): Map keys must be unique`);
    expect(err).toContain('(TG_ERR_MANIFEST_PARSE)');
  });

  it('exits 2 naming the config field at fault', async () => {
    const bad = path.join(dir, 'bad-config.yaml');
    await writeFile(bad, 'policies:\n  - module: image-registry-allowlist\n    config:\n      registries: ghcr.io\n');
    const { code, err } = await check(['-c', bad, path.join(dir, 'good.yaml')]);
    expect(code).toBe(2);
    expect(err).toContain(`${bad}: policies[0].config.registries must be array`);
  });

  it('exits 2 when a policy module cannot be found', async () => {
    const bad = path.join(dir, 'missing-module.yaml');
    await writeFile(bad, 'policies:\n  - module: ./nowhere/policy.js\n');
    const { code, err } = await check(['-c', bad, path.join(dir, 'good.yaml')]);
    expect(code).toBe(2);
    expect(err).toContain('policies[0].module "./nowhere/policy.js": no policy module at');
    expect(err).toContain('(TG_ERR_MODULE_NOT_FOUND)');
  });

  it('exits 2 when a config file does not exist', async () => {
    const { code, err } = await check(['-c', path.join(dir, 'nope.yaml'), path.join(dir, 'good.yaml')]);
    expect(code).toBe(2);
    expect(err).toContain('cannot read config');
  });
});

describe('tollgate check: output', () => {
  it('prints the JSON report in the documented shape', async () => {
    const file = path.join(dir, 'bad-deployment.yaml');
    const { code, out } = await check(['-c', config, '-o', 'json', file]);
    expect(code).toBe(1);
    expect(JSON.parse(out)).toEqual({
      allowed: false,
      results: [
        {
          file,
          kind: 'Deployment',
          namespace: 'shop',
          name: 'api',
          allowed: false,
          violations: [
            {
              policy: 'image-registry-allowlist',
              message:
                'spec.template.spec.containers[0].image: container "api": image "docker.io/acmeevil/api:1" resolves to docker.io/acmeevil/api, which is not from an allowed registry (allowed: docker.io/library, ghcr.io/acme, quay.io/acme)',
            },
          ],
          warnings: [],
          patch: [{ op: 'add', path: '/metadata/annotations', value: { 'tollgate.dev/checked': 'true' } }],
          podOf: null,
          webhooks: null,
          notes: [],
        },
      ],
    });
  });

  it('gives cluster-scoped objects a null namespace in JSON, and applies --namespace to the rest', async () => {
    const { code, out } = await check(['-c', config, '-o', 'json', '-n', 'staging', path.join(dir, 'good.yaml')]);
    expect(code).toBe(0);
    const report = JSON.parse(out) as { allowed: boolean; results: Array<{ kind: string; namespace: string | null; name: string }> };
    expect(report.allowed).toBe(true);
    expect(report.results.map((r) => [r.kind, r.namespace, r.name])).toEqual([
      ['Pod', 'staging', 'web'],
      ['Namespace', null, 'shop'],
    ]);
  });

  it('reads - from stdin', async () => {
    const { code, out } = await check(['-c', config, '-'], BAD_DEPLOYMENT);
    expect(code).toBe(1);
    expect(out).toContain('-#1  Deployment  shop/api  DENIED');
  });

  it('writes the objects as the cluster would store them with --mutated-out', async () => {
    const target = path.join(dir, 'mutated.yaml');
    const { code } = await check(['-c', config, '--mutated-out', target, path.join(dir, 'good.yaml')]);
    expect(code).toBe(0);
    const written = parseAllDocuments(await readFile(target, 'utf8'), { version: '1.1' });
    expect(Array.isArray(written) && written.map((d) => d.toJS() as unknown)).toEqual([
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'default', annotations: { 'tollgate.dev/checked': 'true' } }, spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } },
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', annotations: { 'tollgate.dev/checked': 'true' } } },
    ]);
  });

  it('keeps YAML 1.1 meaning when writing mutated manifests: strings that kubectl would read as numbers or booleans stay quoted', async () => {
    const source = path.join(dir, 'quoted.yaml');
    await writeFile(source, 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: q, namespace: shop}\ndata: {mode: "0644", flag: "yes", plain: 0644}\n');
    const target = path.join(dir, 'quoted-mutated.yaml');
    expect((await check(['-c', config, '--mutated-out', target, source])).code).toBe(0);
    const again = await check(['-c', config, '-o', 'json', target]);
    expect(again.code).toBe(0);
    const reread = parseAllDocuments(await readFile(target, 'utf8'), { version: '1.1' });
    expect(Array.isArray(reread) && (reread[0]!.toJS() as { data: unknown }).data).toEqual({ mode: '0644', flag: 'yes', plain: 420 });
  });

  it('writes mutated manifests that kubectl reads back as they were: strings its parser alone reads as numbers, and line breaks only it breaks at, stay strings', async () => {
    const source = path.join(dir, 'go-yaml-numbers.json');
    await writeFile(source, JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'q', namespace: 'shop', labels: { '0X1F': 'x' } }, data: { hex: '0X1F', oct: '0o17', bin: '0B11', nel: 'a\u0085b' } }));
    const target = path.join(dir, 'go-yaml-numbers-mutated.yaml');
    expect((await check(['-c', config, '--mutated-out', target, source])).code).toBe(0);
    // parseManifests reads as kubectl does (test/e2e/check-fuzz.test.ts holds it to kubectl's code).
    const [reread] = parseManifests(await readFile(target, 'utf8'), target);
    expect(reread!.object.data).toEqual({ hex: '0X1F', oct: '0o17', bin: '0B11', nel: 'a\u0085b' });
    expect(reread!.object.metadata?.labels).toEqual({ '0X1F': 'x' });
  });

  it('denies a manifest with a __proto__ key, as the webhook refuses it', async () => {
    const { code, out } = await check(
      ['-c', config, '-o', 'json', '-'],
      // A label value kubectl takes (an object there would fail kubectl, and the reader, first).
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels:\n    __proto__: "true"\n',
    );
    expect(code).toBe(1);
    const [result] = (JSON.parse(out) as { results: Array<{ allowed: boolean; violations: Array<{ policy: string; message: string }> }> }).results;
    expect(result!.allowed).toBe(false);
    expect(result!.violations).toEqual([{ policy: 'tollgate', message: expect.stringMatching(/^metadata\.labels\.__proto__: the object has a key the webhook refuses .*HTTP 400/) }]);
  });
});

describe('tollgate check --webhooks: only what the cluster sends to tollgate is judged', () => {
  const SHIPPED_WEBHOOKS = path.resolve('manifests', 'webhooks.yaml');
  const MIXED = `apiVersion: v1
kind: Pod
metadata: {name: agent, namespace: kube-system}
spec: {containers: [{name: a, image: "docker.io/acmeevil/agent:1"}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
---
apiVersion: v1
kind: Pod
metadata: {name: api, namespace: shop}
spec: {containers: [{name: a, image: "docker.io/acmeevil/api:1"}]}
`;

  it('passes over what the shipped configurations leave out (kube-system, ConfigMaps) and judges the rest', async () => {
    const file = path.join(dir, 'mixed.yaml');
    await writeFile(file, MIXED);
    const { code, out } = await check(['-c', config, '--webhooks', SHIPPED_WEBHOOKS, file]);
    expect(code).toBe(1);
    const lines = out.split('\n');
    expect(lines).toContain(`${file}#1  Pod  kube-system/agent  not sent to tollgate (no webhook matches it)`);
    expect(lines).toContain(`${file}#2  ConfigMap  shop/settings  not sent to tollgate (no webhook matches it)`);
    expect(lines).toContain(`${file}#3  Pod  shop/api  DENIED`);
    expect(lines).toContain('3 objects checked: 2 allowed (2 not sent to tollgate), 1 denied');
    // Without --webhooks, the kube-system pod is judged too.
    const all = await check(['-c', config, file]);
    expect(all.out).toContain(`${file}#1  Pod  kube-system/agent  DENIED`);
  });

  it('reports the webhooks called and the notes in JSON', async () => {
    const file = path.join(dir, 'mirror.yaml');
    await writeFile(file, 'apiVersion: v1\nkind: Pod\nmetadata: {name: m, namespace: shop, annotations: {kubernetes.io/config.mirror: abc}}\nspec: {containers: [{name: a, image: nginx}]}\n');
    const { code, out } = await check(['-c', config, '-o', 'json', '--webhooks', SHIPPED_WEBHOOKS, file]);
    expect(code).toBe(0);
    const [result] = (JSON.parse(out) as { results: Array<{ webhooks: unknown; patch: unknown[]; notes: string[] }> }).results;
    // The shipped mutating webhook's matchCondition leaves mirror pods alone; the validating one still judges them.
    expect(result?.webhooks).toEqual({ mutate: [], validate: ['validate.tollgate.dev'] });
    expect(result?.patch).toEqual([]);
    expect(result?.notes).toEqual([]);
    const text = await check(['-c', config, '--webhooks', SHIPPED_WEBHOOKS, file]);
    expect(text.out).toContain('Pod  shop/m  allowed (not sent to /mutate)');
  });

  it('reads every --webhooks file given (the option is repeatable)', async () => {
    const [mutatingYaml, validatingYaml] = (await readFile(SHIPPED_WEBHOOKS, 'utf8')).split(/^---$/m);
    const mutatingFile = path.join(dir, 'mutating-webhooks.yaml');
    const validatingFile = path.join(dir, 'validating-webhooks.yaml');
    await writeFile(mutatingFile, mutatingYaml!);
    await writeFile(validatingFile, validatingYaml!);
    const file = path.join(dir, 'api.yaml');
    await writeFile(file, MIXED.split('---\n')[2]!);
    const { code, out } = await check(['-c', config, '-o', 'json', '--webhooks', mutatingFile, '--webhooks', validatingFile, file]);
    expect(code).toBe(1);
    const [result] = (JSON.parse(out) as { results: Array<{ webhooks: unknown }> }).results;
    expect(result?.webhooks).toEqual({ mutate: ['mutate.tollgate.dev'], validate: ['validate.tollgate.dev'] });
  });

  it('exits 2 naming the bad field of a webhook configuration', async () => {
    const bad = path.join(dir, 'bad-webhooks.yaml');
    await writeFile(bad, 'apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata: {name: x}\nwebhooks:\n  - name: v\n    clientConfig: {url: "https://t/validate"}\n    failurePolicy: Sometimes\n');
    const { code, out, err } = await check(['-c', config, '--webhooks', bad, path.join(dir, 'good.yaml')]);
    expect(code).toBe(2);
    expect(out).toBe('');
    expect(err).toContain(`${bad}#1: webhooks[0].failurePolicy must be one of "Fail", "Ignore"`);
  });
});

describe('tollgate check: the pods of workload templates', () => {
  // A policy that sees only Pods: in the cluster it judges a Deployment's pods when the controller
  // creates them, so offline the Deployment alone passing it would hide the denial.
  const PODS_ONLY = `
policies:
  - module: annotation-injection
    config:
      annotations: { tollgate.dev/checked: "true" }
  - module: image-registry-allowlist
    match: { kinds: [Pod] }
    config:
      registries: [docker.io/library]
`;
  it('denies a workload whose template pod a Pod-only policy denies, naming the workload', async () => {
    const podsOnly = path.join(dir, 'pods-only.yaml');
    await writeFile(podsOnly, PODS_ONLY);
    const manifest = path.join(dir, 'pods-only-deployment.yaml');
    await writeFile(manifest, deployment('quay.io/evil/api:1'));
    const mutated = path.join(dir, 'pods-only-mutated.yaml');
    const { code, out } = await check(['-c', podsOnly, '--mutated-out', mutated, manifest]);
    expect(code).toBe(1);
    expect(out).toContain(`${manifest}#1  Deployment  shop/api  allowed (mutated: 1 patch operation)`);
    expect(out).toContain(`${manifest}#1  Pod  shop/api-*  (the pod of Deployment api's template)  DENIED`);
    expect(out).toContain('denied by image-registry-allowlist: spec.containers[0].image: container "api": image "quay.io/evil/api:1"');
    expect(out).toContain('1 object and 1 pod of their templates checked: 1 allowed, 1 denied');
    // --mutated-out writes the manifests' objects, not the pods their controllers would make.
    const written = parseManifests(await readFile(mutated, 'utf8'), mutated);
    expect(written.map((d) => d.object.kind)).toEqual(['Deployment']);

    await writeFile(manifest, deployment('nginx:1.27'));
    expect((await check(['-c', podsOnly, manifest])).code).toBe(0);
  });

  it('follows only admitted workloads: a denied one creates no pods', async () => {
    const { code, out } = await check(['-c', config, '-o', 'json', path.join(dir, 'bad-deployment.yaml')]);
    expect(code).toBe(1);
    expect((JSON.parse(out) as { results: unknown[] }).results).toHaveLength(1);
  });
});

describe('tollgate check: real-world manifest shapes', () => {
  it('checks Helm-rendered output (# Source comments, documents rendered empty)', async () => {
    const { code, out } = await check(['-c', config, '-o', 'json', path.join(FIXTURES, 'helm-rendered.yaml')]);
    expect(code).toBe(0);
    const report = JSON.parse(out) as { allowed: boolean; results: Array<{ kind: string; name: string; allowed: boolean; podOf: unknown }> };
    expect(report.results.map((r) => [r.kind, r.name, r.allowed, r.podOf])).toEqual([
      ['ServiceAccount', 'shop', true, null],
      ['Service', 'shop', true, null],
      ['Deployment', 'shop', true, null],
      // The pod the Deployment's controller creates from its template (named by generateName).
      ['Pod', null, true, { kind: 'Deployment', name: 'shop' }],
      ['Pod', 'shop-test-connection', true, null],
    ]);
  });

  it('checks kubectl get -o yaml List output', async () => {
    const { code, out } = await check(['-c', config, path.join(FIXTURES, 'kubectl-get-list.yaml')]);
    expect(code).toBe(1);
    expect(out).toContain('kubectl-get-list.yaml#1.items[1]  Deployment  shop/api  DENIED');
    expect(out).toContain('image "docker.io/someone/api:latest" resolves to docker.io/someone/api');
    expect(out).toContain('kubectl-get-list.yaml#1.items[0]  ConfigMap  shop/kube-root-ca.crt  allowed');
  });

  it('checks a JSON PodList', async () => {
    const { code, out } = await check(['-c', config, '-o', 'json', path.join(FIXTURES, 'pods.json')]);
    expect(code).toBe(1);
    expect((JSON.parse(out) as { results: Array<{ name: string; allowed: boolean }> }).results.map((r) => [r.name, r.allowed])).toEqual([
      ['a', true],
      ['b', false],
    ]);
  });

  it('checks a directory of manifests', async () => {
    const { code, out } = await check(['-c', config, path.join(FIXTURES, 'tree')]);
    expect(code).toBe(0);
    expect(out).toContain('4 objects checked: 4 allowed, 0 denied');
  });

  const kubectl = new Promise<boolean>((resolve) => execFile('kubectl', ['version', '--client'], { timeout: 10_000 }, (error) => resolve(!error)));

  it('checks kustomize output piped from kubectl kustomize', async (context) => {
    if (!(await kubectl)) context.skip();
    const rendered = await new Promise<string>((resolve, reject) =>
      execFile('kubectl', ['kustomize', path.join(FIXTURES, 'kustomize')], { timeout: 15_000 }, (error, stdout) => (error ? reject(error) : resolve(stdout))),
    );
    const { code, out } = await check(['-c', config, '-o', 'json', '-'], rendered);
    expect(code).toBe(1);
    const report = JSON.parse(out) as { results: Array<{ kind: string; namespace: string; name: string; allowed: boolean; violations: Array<{ message: string }> }> };
    expect(report.results.map((r) => [r.kind, r.namespace, r.name.replace(/-[a-z0-9]{10}$/, '-<hash>'), r.allowed])).toEqual([
      ['ConfigMap', 'shop-prod', 'prod-web-settings-<hash>', true],
      ['Service', 'shop-prod', 'prod-web', true],
      ['Deployment', 'shop-prod', 'prod-web', false],
    ]);
    expect(report.results[2]!.violations[0]!.message).toContain('image "registry.io.evil.com/nginx:1.27" resolves to registry.io.evil.com/nginx');
  });
});

describe('tollgate check: the built command', () => {
  it('runs as a process with the same exit codes and output', async () => {
    const bin = path.resolve('dist/src/cli/bin.js');
    const spawnCheck = (args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(process.execPath, [bin, 'check', ...args], { timeout: 15_000 }, (error, stdout, stderr) =>
          resolve({ code: error ? Number((error as { code?: unknown }).code ?? 1) : 0, stdout, stderr }),
        );
      });
    const denied = await spawnCheck(['-c', config, '-o', 'json', path.join(dir, 'bad-deployment.yaml')]);
    expect(denied.code).toBe(1);
    expect((JSON.parse(denied.stdout) as { allowed: boolean }).allowed).toBe(false);
    const allowed = await spawnCheck(['-c', config, path.join(dir, 'good.yaml')]);
    expect(allowed.code).toBe(0);
    const unreadable = await spawnCheck(['-c', config, path.join(dir, 'missing.yaml')]);
    expect(unreadable.code).toBe(2);
    expect(unreadable.stderr).toContain('TG_ERR_MANIFEST_READ');
  });
});
