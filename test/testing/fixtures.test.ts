import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdmissionRequest } from '../../src/admission/types.js';
import { definePolicy } from '../../src/engine/policy.js';
import { ErrorCodes } from '../../src/errors.js';
import { tollgateErrorOf } from '../helpers/errors.js';
import { findFixtureSuites, loadFixtureSuite, runFixtureSuite, type SuiteResult } from '../../src/testing/fixtures.js';

// A plain-JS mutating and validating pair, loaded for real from a temp directory.
const LABEL_MODULE = `
export default {
  name: 'add-label',
  kind: 'mutating',
  configSchema: { type: 'object', additionalProperties: false, properties: { value: { type: 'string', default: 'on' } } },
  create(config) {
    if (config.value === 'refuse') { const e = new Error('is refused'); e.name = 'PolicyConfigError'; e.path = 'value'; throw e; }
    return {
      mutate(request) {
        const metadata = request.object.metadata;
        if (metadata.labels?.['example.com/x'] === config.value) return;
        metadata.labels = { ...metadata.labels, 'example.com/x': config.value };
        return { warnings: ['labelled'] };
      },
    };
  },
};
`;

const POD = 'apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: shop}\nspec: {containers: [{name: c, image: nginx}]}\n';

let dir: string;
async function suiteIn(name: string, suite: string, files: Record<string, string> = {}): Promise<string> {
  const at = path.join(dir, name);
  await mkdir(path.join(at, 'fixtures'), { recursive: true });
  await writeFile(path.join(at, 'index.js'), LABEL_MODULE);
  for (const [file, text] of Object.entries(files)) await writeFile(path.join(at, file), text);
  await writeFile(path.join(at, 'tollgate-test.yaml'), suite);
  return path.join(at, 'tollgate-test.yaml');
}

function failuresOf(result: SuiteResult): Record<string, string[]> {
  return Object.fromEntries(result.cases.map((c) => [c.name, c.failures]));
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'tollgate-fixtures-'));
  await writeFile(path.join(dir, 'package.json'), '{"type":"module"}');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('running a suite', () => {
  it('passes cases whose expectations hold, the patch checked by applying it', async () => {
    const file = await suiteIn(
      'passing',
      `policy: .
config: { value: blue }
cases:
  - name: labels a pod
    manifest: fixtures/pod.yaml
    expect:
      allowed: true
      warnings: [labelled]
      patch: [{ op: add, path: /metadata/labels, value: { example.com/x: blue } }]
      patched: fixtures/pod-labelled.yaml
  - name: inline object, per-case config
    config: { value: red }
    object: { apiVersion: v1, kind: ConfigMap, metadata: { name: c, namespace: shop, labels: { a: b } } }
    expect:
      allowed: true
      patch: [{ op: add, path: /metadata/labels/example.com~1x, value: red }]
  - name: the default from the config schema applies
    config: {}
    manifest: fixtures/pod.yaml
    expect: { allowed: true, patch: [{ op: add, path: /metadata/labels, value: { example.com/x: "on" } }] }
  - name: a refused config
    config: { value: refuse }
    expect: { configError: "cases[3].config.value is refused" }
`,
      { 'fixtures/pod.yaml': POD, 'fixtures/pod-labelled.yaml': POD.replace('namespace: shop}', 'namespace: shop, labels: {example.com/x: blue}}') },
    );
    const result = await runFixtureSuite(file);
    expect(failuresOf(result)).toEqual({
      'labels a pod': [],
      'inline object, per-case config': [],
      'the default from the config schema applies': [],
      'a refused config': [],
    });
    expect(result.passed).toBe(true);
  });

  it('reports each unmet expectation readably, with a diff of patches and objects', async () => {
    const file = await suiteIn(
      'failing',
      `policy: ./
config: { value: blue }
cases:
  - name: wrong verdict
    manifest: fixtures/pod.yaml
    expect: { allowed: false, violations: [never] }
  - name: wrong patch and object
    manifest: fixtures/pod.yaml
    expect:
      allowed: true
      warnings: [missing warning]
      patch: [{ op: add, path: /metadata/labels, value: { example.com/x: green } }]
      patched: fixtures/pod.yaml
  - name: config expected to be refused but accepted
    config: { value: ok }
    expect: { configError: refused }
  - name: config refused without being expected
    config: { value: refuse }
    manifest: fixtures/pod.yaml
    expect: { allowed: true }
`,
      { 'fixtures/pod.yaml': POD },
    );
    const result = await runFixtureSuite(file);
    expect(result.passed).toBe(false);
    const failures = failuresOf(result);
    expect(failures['wrong verdict']).toEqual([
      'expected the request to be denied, but it was allowed (with a patch of 1 operations)',
      'expected a violation containing "never"; the violations were:\n  (none)',
    ]);
    expect(failures['wrong patch and object']).toEqual([
      'expected a warning containing "missing warning"; the warnings were:\n  - [add-label] labelled',
      expect.stringContaining('the patch differs (- expected, + actual):'),
      expect.stringContaining('the object after the patch differs (- expected, + actual):'),
    ]);
    expect(failures['wrong patch and object']![1]).toContain('-       "example.com/x": "green"\n+       "example.com/x": "blue"');
    expect(failures['wrong patch and object']![2]).toContain('+     "labels": {');
    expect(failures['config expected to be refused but accepted']).toEqual(['expected the config to be refused with a message containing "refused", but it was accepted']);
    expect(failures['config refused without being expected']).toEqual([`the policy refused its config: ${file}: cases[3].config.value is refused`]);
  });

  it('gives each case its own copy of the request', async () => {
    const file = await suiteIn(
      'isolated',
      `policy: .
cases:
  - name: first
    manifest: fixtures/pod.yaml
    expect: { allowed: true, patch: [{ op: add, path: /metadata/labels, value: { example.com/x: "on" } }] }
  - name: second, same manifest
    manifest: fixtures/pod.yaml
    expect: { allowed: true, patch: [{ op: add, path: /metadata/labels, value: { example.com/x: "on" } }] }
`,
      { 'fixtures/pod.yaml': POD },
    );
    const suite = await loadFixtureSuite(file);
    // Twice over: a case must not see what an earlier case, or an earlier run, did to a manifest.
    for (let run = 0; run < 2; run++) expect((await runFixtureSuite(suite)).passed).toBe(true);
  });

  it('runs a whole AdmissionReview as sent, and a module object in place of the suite’s policy', async () => {
    const review = {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid: 'r1',
        kind: { group: '', version: 'v1', kind: 'Pod' },
        resource: { group: '', version: 'v1', resource: 'pods' },
        subResource: 'ephemeralcontainers',
        namespace: 'shop',
        operation: 'UPDATE',
        userInfo: { username: 'alice' },
        object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' } },
        oldObject: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' } },
      },
    };
    const file = await suiteIn('review', `policy: .\ncases:\n  - name: by review\n    review: fixtures/review.json\n    expect: { allowed: false, violations: ["[spy] alice UPDATE pods/ephemeralcontainers"] }\n`, {
      'fixtures/review.json': JSON.stringify(review),
    });
    const seen: AdmissionRequest[] = [];
    const spy = definePolicy({
      name: 'spy',
      kind: 'validating',
      create: () => ({
        validate: (request) => {
          seen.push(request);
          return { allowed: false, message: `${request.userInfo?.username} ${request.operation} ${request.resource.resource}/${request.subResource}` };
        },
      }),
    });
    const result = await runFixtureSuite(file, { module: spy });
    expect(failuresOf(result)).toEqual({ 'by review': [] });
    expect(seen[0]).toEqual(review.request);
  });
});

describe('loading a suite', () => {
  it.each([
    ['a YAML error', 'policy: .\ncases: [\n', /tollgate-test\.yaml:3: /],
    ['a missing field', 'cases:\n  - name: x\n    expect: { allowed: true }\n', /tollgate-test\.yaml:1: policy is required/],
    ['a wrong type, with its line', 'policy: .\ncases:\n  - name: x\n    manifest: fixtures/pod.yaml\n    expect: { allowed: "yes please" }\n', /tollgate-test\.yaml:5: cases\[0\]\.expect\.allowed must be boolean/],
    ['an unknown field', 'policy: .\ncases:\n  - name: x\n    manifests: fixtures/pod.yaml\n    expect: { allowed: true }\n', /cases\[0\]\.manifests is not a known field/],
    ['two inputs', 'policy: .\ncases:\n  - name: x\n    manifest: fixtures/pod.yaml\n    object: {apiVersion: v1, kind: Pod}\n    expect: { allowed: true }\n', /cases\[0\] \(x\): give exactly one of manifest, object or review/],
    ['no verdict expected', 'policy: .\ncases:\n  - name: x\n    manifest: fixtures/pod.yaml\n    expect: { violations: [a] }\n', /cases\[0\] \(x\): expect.allowed is required/],
    ['an UPDATE without the old object', 'policy: .\ncases:\n  - name: x\n    operation: UPDATE\n    manifest: fixtures/pod.yaml\n    expect: { allowed: true }\n', /an UPDATE needs oldManifest or oldObject/],
    ['a missing fixture', 'policy: .\ncases:\n  - name: x\n    manifest: fixtures/nope.yaml\n    expect: { allowed: true }\n', /cases\[0\] \(x\): cannot read .*nope\.yaml/],
    ['a fixture with two objects', 'policy: .\ncases:\n  - name: x\n    manifest: fixtures/two.yaml\n    expect: { allowed: true }\n', /fixtures\/two\.yaml must hold exactly one object, not 2/],
    ['a configError with other expectations', 'policy: .\ncases:\n  - name: x\n    expect: { configError: a, allowed: false }\n', /expect.configError stands alone/],
    ['a review that is not one', 'policy: .\ncases:\n  - name: x\n    review: fixtures/pod.yaml\n    expect: { allowed: true }\n', /tollgate-test\.yaml:3: cases\[0\] \(x\): fixtures\/pod\.yaml: apiVersion "v1" is not supported/],
  ])('refuses %s, naming the file, line and field', async (name, suite, message) => {
    const file = await suiteIn(`bad-${name.replace(/\W+/g, '-')}`, suite, { 'fixtures/pod.yaml': POD, 'fixtures/two.yaml': `${POD}---\n${POD}` });
    const err = await tollgateErrorOf(() => loadFixtureSuite(file));
    expect(err.code).toBe(ErrorCodes.TG_ERR_TEST_SUITE);
    expect(err.message).toMatch(message);
  });

  it('throws, rather than failing cases, when the policy module cannot be found', async () => {
    const file = await suiteIn('no-module', 'policy: ./nowhere\ncases:\n  - name: x\n    manifest: fixtures/pod.yaml\n    expect: { allowed: true }\n', { 'fixtures/pod.yaml': POD });
    const err = await tollgateErrorOf(() => runFixtureSuite(file));
    expect(err.code).toBe(ErrorCodes.TG_ERR_MODULE_NOT_FOUND);
    expect(err.message).toContain(`${file}: policy: no policy module at ${path.join(path.dirname(file), 'nowhere')}`);
  });
});

describe('findFixtureSuites', () => {
  it('takes a suite file, a directory holding one, or searches below a directory (sorted, node_modules skipped)', async () => {
    const root = path.join(dir, 'find');
    for (const sub of ['b', 'a/deep', 'node_modules/x']) {
      await mkdir(path.join(root, sub), { recursive: true });
      await writeFile(path.join(root, sub, 'tollgate-test.yaml'), 'policy: .\n');
    }
    expect(await findFixtureSuites([root])).toEqual([path.join(root, 'a/deep/tollgate-test.yaml'), path.join(root, 'b/tollgate-test.yaml')]);
    expect(await findFixtureSuites([path.join(root, 'b')])).toEqual([path.join(root, 'b/tollgate-test.yaml')]);
    expect(await findFixtureSuites([path.join(root, 'b/tollgate-test.yaml')])).toEqual([path.join(root, 'b/tollgate-test.yaml')]);
  });

  it('fails when there is no suite to run', async () => {
    await mkdir(path.join(dir, 'empty'), { recursive: true });
    const err = await tollgateErrorOf(() => findFixtureSuites([path.join(dir, 'empty')]));
    expect(err.message).toContain('no tollgate-test.yaml in it or below it');
    expect((await tollgateErrorOf(() => findFixtureSuites([path.join(dir, 'absent')]))).code).toBe(ErrorCodes.TG_ERR_TEST_SUITE);
  });
});

describe('the built-in suites catch naive implementations', () => {
  // What a hurried author writes: a string prefix match on the image text.
  const naiveAllowlist = definePolicy<{ registries: string[] }>({
    name: 'image-registry-allowlist',
    kind: 'validating',
    create: (config) => ({
      validate(request) {
        const spec = (request.object?.spec ?? {}) as { containers?: Array<{ image?: string }> };
        const bad = (spec.containers ?? []).filter((c) => !config.registries.some((r) => String(c.image).startsWith(r)));
        return bad.length === 0 ? { allowed: true } : { allowed: false, message: `not from an allowed registry: ${bad.map((c) => c.image).join(', ')}` };
      },
    }),
  });

  it('image-registry-allowlist: prefix tricks, template kinds and list kinds all fail against a startsWith match', async () => {
    const result = await runFixtureSuite(path.resolve('policies/image-registry-allowlist/tollgate-test.yaml'), { module: naiveAllowlist });
    const failed = result.cases.filter((c) => !c.passed).map((c) => c.name);
    for (const name of [
      'denied: a listed registry as a prefix of another host (registry.io.evil.com/x:1)',
      'denied: an organisation whose name starts with a listed one (docker.io/acmeevil/web:1)',
      'denied: a path prefix only matches at a / boundary (ghcr.io/acme-evil/api:1)',
      'a bad image in an init container',
      'a bad image in an ephemeral container',
      'a Deployment whose pods would be refused',
      'a CronJob, two templates deep',
      'allowed: a one-component Docker Hub name is an official image (docker.io/library/nginx) (nginx)',
    ]) {
      expect(failed).toContain(name);
    }
  });
});
