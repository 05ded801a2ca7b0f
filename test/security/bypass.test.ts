// The allowlist and the engine read as an attacker would: every bypass class known in this field,
// as a test that fails if the bypass opens. See SECURITY.md for the threat model.
import { describe, expect, it } from 'vitest';
import type { AdmissionRequest, KubernetesObject } from '../../src/admission/types.js';
import { parseConfig } from '../../src/config/load.js';
import { createEngine } from '../../src/engine/create.js';
import type { PolicyEngine } from '../../src/engine/engine.js';
import { createLogger } from '../../src/log/logger.js';
import { pod, requestFor, workload } from '../helpers/reviews.js';

const logger = createLogger({ level: 'silent' });
const DIGEST = `sha256:${'a'.repeat(64)}`;

async function engineWith(registries: string[], extra = ''): Promise<PolicyEngine> {
  const yaml = `policies:\n  - module: image-registry-allowlist\n${extra}    config:\n      registries: ${JSON.stringify(registries)}\n`;
  return createEngine(parseConfig(yaml, 'security-test', process.cwd()), logger);
}

async function admitted(engine: PolicyEngine, request: AdmissionRequest): Promise<boolean> {
  return (await engine.validate(request)).verdict.allowed;
}

describe('allowlist: reference tricks', () => {
  it.each([
    // [allowlist, image, admitted]
    [['registry.io'], 'registry.io/app', true],
    [['registry.io'], 'registry.io.evil.com/app', false],
    [['registry.io'], 'evilregistry.io/app', false],
    [['registry.io'], 'evil.io/registry.io/app', false],
    [['registry.io'], 'registry.io@' + DIGEST, false], // docker.io/library/registry.io
    [['registry.io'], `registry.io.evil.com/app@${DIGEST}`, false],
    [['registry.io'], 'REGISTRY.IO/app', true], // host names are case-insensitive: the same host
    [['registry.io'], 'registry.io/App', false], // repositories are lower-case: refused as invalid
    [['registry.io'], 'registry.io:5000/app', false], // another port is another registry
    [['registry.io'], 'registry.io:443/app', false],
    [['registry.io:5000'], 'registry.io/app', false],
    [['registry.io'], '[::1]:5000/app', false],
    [['registry.io'], 'registry.io./app', false],
    [['registry.io'], 'registry.io%2fevil.com/app', false],
    [['registry.io'], 'registry.io\\evil.com/app', false],
    [['registry.io'], 'user@registry.io/app', false],
    [['registry.io'], 'registry.io/app ', false],
    [['registry.io'], '', false],
    [['docker.io/acme'], 'acme/app', true],
    [['docker.io/acme'], 'docker.io/acme/app', true],
    [['docker.io/acme'], 'index.docker.io/acme/app:v1', true],
    [['docker.io/acme'], 'acmeevil/app', false],
    [['docker.io/acme'], 'docker.io/acmeevil/app', false],
    [['docker.io/acme'], 'docker.io/acme-evil/app', false],
    [['docker.io/acme'], 'acme', false], // docker.io/library/acme, an official image, not acme's
    [['docker.io/acme'], 'registry-1.docker.io/acme', false], // as above, on another Hub host name
    [['docker.io/acme'], 'Docker.io/acme', false],
    [['docker.io/acme'], 'docker.io.evil.com/acme/app', false],
    [['docker.io/library'], 'nginx', true],
    [['docker.io/library'], `nginx@${DIGEST}`, true],
    [['docker.io/library'], 'evil/nginx', false],
    [['docker.io/library'], 'libraryevil/nginx', false],
    // An image ID: containerd runs the local image with that ID, whichever registry it came from.
    [['docker.io/library'], DIGEST, false],
    [['docker.io/library', 'docker.io'], `sha512:${'b'.repeat(128)}`, false],
    [['ghcr.io/acme/app'], 'ghcr.io/acme/app:v1', true],
    [['ghcr.io/acme/app'], 'ghcr.io/acme/app/sub', true],
    [['ghcr.io/acme/app'], 'ghcr.io/acme/apps', false],
    [['ghcr.io/acme/app'], 'ghcr.io/acme/app2', false],
    [['ghcr.io/acme/app'], 'ghcr.io/acme', false],
  ])('allowlist %j, image %j -> admitted %s', async (registries, image, expected) => {
    expect(await admitted(await engineWith(registries), requestFor(pod([image])))).toBe(expected);
  });

  it('denies a container whose image is not a string, including values whose toString is not callable', async () => {
    const engine = await engineWith(['registry.io']);
    for (const image of [undefined, null, 42, ['registry.io/app'], { toString: [] }, { toString: 'registry.io/app' }]) {
      const object = pod(['registry.io/app']);
      (object.spec as { containers: Array<Record<string, unknown>> }).containers[0]!.image = image;
      const outcome = await engine.validate(requestFor(object));
      expect(outcome.verdict.allowed).toBe(false);
      // Denied by the policy's judgement, not by a policy failure that failurePolicy: Ignore would wave through.
      expect(outcome.policies[0]?.result).toBe('denied');
    }
  });
});

describe('allowlist: where containers hide, and which requests carry them', () => {
  const BAD = 'evil.io/miner';
  const GOOD = 'registry.io/app';

  it('judges init and ephemeral containers, not only containers', async () => {
    const engine = await engineWith(['registry.io']);
    expect(await admitted(engine, requestFor(pod({ containers: [GOOD], initContainers: [BAD] })))).toBe(false);
    expect(await admitted(engine, requestFor(pod({ containers: [GOOD], ephemeralContainers: [BAD] })))).toBe(false);
  });

  it('judges image volumes, whose files an allowed container can run from the mount', async () => {
    const engine = await engineWith(['registry.io']);
    const object = pod({ containers: [GOOD] });
    (object.spec as Record<string, unknown>).volumes = [{ name: 'payload', image: { reference: BAD } }];
    expect(await admitted(engine, requestFor(object))).toBe(false);
    const template = workload('Deployment', [GOOD]);
    ((template.spec as { template: { spec: Record<string, unknown> } }).template.spec).volumes = [{ name: 'payload', image: { reference: BAD } }];
    expect(await admitted(engine, requestFor(template))).toBe(false);
  });

  it('judges an ephemeral container added through UPDATE of pods/ephemeralcontainers (kubectl debug)', async () => {
    const engine = await engineWith(['registry.io']);
    const before = pod({ containers: [GOOD] });
    const after = pod({ containers: [GOOD], ephemeralContainers: [BAD] });
    const request = requestFor(after, { operation: 'UPDATE', oldObject: before, subResource: 'ephemeralcontainers' });
    request.requestSubResource = 'ephemeralcontainers';
    expect(await admitted(engine, request)).toBe(false);
  });

  it('judges UPDATE as well as CREATE: an image changed after creation is denied', async () => {
    const engine = await engineWith(['registry.io']);
    expect(await admitted(engine, requestFor(pod([BAD]), { operation: 'UPDATE', oldObject: pod([GOOD]) }))).toBe(false);
    for (const kind of ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob', 'ReplicationController', 'PodTemplate']) {
      expect(await admitted(engine, requestFor(workload(kind, [BAD]), { operation: 'UPDATE', oldObject: workload(kind, [GOOD]) })), kind).toBe(false);
    }
  });

  it('judges a pod pending deletion (deletionTimestamp set, held by a finalizer)', async () => {
    const engine = await engineWith(['registry.io']);
    const deleting = pod([BAD], { deletionTimestamp: '2026-01-01T00:00:00Z', finalizers: ['acme.io/hold'] });
    expect(await admitted(engine, requestFor(deleting, { operation: 'UPDATE', oldObject: pod([GOOD]) }))).toBe(false);
  });

  it('trusts the request kind the apiserver set, never the object kind a client wrote', async () => {
    const engine = await engineWith(['registry.io']);
    // A Pod that claims to be a ConfigMap is still judged as the Pod the apiserver says it is.
    const disguised = { ...pod([BAD]), kind: 'ConfigMap', apiVersion: 'v1' };
    const request = requestFor(pod([BAD]));
    request.object = disguised;
    expect(await admitted(engine, request)).toBe(false);
    // And a Pod-shaped object in the body of a namespace-scoped exec is nothing to judge.
    const exec = requestFor({ apiVersion: 'v1', kind: 'PodExecOptions', command: ['sh'] } as KubernetesObject, { operation: 'CONNECT', subResource: 'exec' });
    exec.kind = { group: '', version: 'v1', kind: 'PodExecOptions' };
    exec.object = { ...pod([BAD]), kind: 'PodExecOptions' };
    expect(await admitted(engine, exec)).toBe(true);
  });

  it('answers CONNECT and DELETE (no containers are created) without judging images', async () => {
    const engine = await engineWith(['registry.io']);
    const attach = requestFor(pod([BAD]), { operation: 'CONNECT', subResource: 'attach' });
    expect(await admitted(engine, attach)).toBe(true);
    const remove = requestFor(null, { operation: 'DELETE', oldObject: pod([BAD]) });
    expect(await admitted(engine, remove)).toBe(true);
  });
});

describe('exemptions', () => {
  it('excludes namespaces by exact name from the request, never from the object or its labels', async () => {
    const engine = await engineWith(['registry.io'], '    match: { excludeNamespaces: [kube-system] }\n');
    const bad = (namespace: string, metadata: Record<string, unknown> = {}) => requestFor(pod(['evil.io/x'], { namespace, ...metadata }), { namespace });
    expect(await admitted(engine, bad('kube-system'))).toBe(true);
    for (const namespace of ['kube-system-2', 'kube-systems', 'Kube-System', 'kube-system ', 'default']) {
      expect(await admitted(engine, bad(namespace)), namespace).toBe(false);
    }
    // The object's own namespace field and labels are the client's to write: they exempt nothing.
    const lying = requestFor(pod(['evil.io/x'], { namespace: 'kube-system', labels: { 'kubernetes.io/metadata.name': 'kube-system' } }), { namespace: 'default' });
    expect(await admitted(engine, lying)).toBe(false);
  });

  it('a wildcard exclusion also exempts namespaces a user may create: kube-* exempts kube-mine (see SECURITY.md)', async () => {
    const engine = await engineWith(['registry.io'], '    match: { excludeNamespaces: ["kube-*"] }\n');
    expect(await admitted(engine, requestFor(pod(['evil.io/x'], { namespace: 'kube-mine' }), { namespace: 'kube-mine' }))).toBe(true);
  });

  it('grants nothing to a user name, group or dryRun', async () => {
    const engine = await engineWith(['registry.io']);
    const request = requestFor(pod(['evil.io/x']), { dryRun: true });
    request.userInfo = { username: 'system:serviceaccount:kube-system:admin', groups: ['system:masters'] };
    expect(await admitted(engine, request)).toBe(false);
  });
});

describe('failure modes fail closed', () => {
  it('denies when the allowlist cannot judge: a policy error with failurePolicy Fail', async () => {
    const engine = await engineWith(['registry.io']);
    // Containers that are not objects, or have no image, are denied by name, never skipped.
    const object = pod(['registry.io/app']);
    (object.spec as Record<string, unknown>).containers = [null, 'registry.io/app', { image: 'evil.io/x' }];
    const outcome = await engine.validate(requestFor(object));
    expect(outcome.verdict.allowed).toBe(false);
    expect(outcome.verdict.message).toMatch(/containers\[0\]/);
    expect(outcome.verdict.message).toMatch(/containers\[1\]/);
    expect(outcome.verdict.message).toMatch(/evil\.io\/x/);
  });
});
