// tollgate's verdicts as the real kube-apiserver acts on them: what it stores, what it refuses and
// what the client (kubectl, client-node) is told, for pods, workloads, updates, `kubectl debug`,
// server-side dry runs and a warn-mode policy.
import { AppsV1Api, CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/cli/main.js';
import { kubectlApply, startCluster, waitFor, type E2ECluster, type WebhookConfiguration } from './harness/index.js';
import {
  admittedAnnotation,
  allowedImage,
  cronJob,
  deniedImage,
  e2eConfig,
  deniedPrefix,
  deployment,
  otherAllowedImage,
  pod,
  serveTollgate,
  statusMessage,
  warnNamespacePrefix,
  type ServedTollgate,
} from './fixture.js';

const namespace = 'e2e-admission';
const deniedMessage = (path: string, container: string) =>
  `${deniedPrefix} ${path}: container "${container}": image "${deniedImage}" resolves to evil.io/x/miner, which is not from an allowed registry (allowed: docker.io/library, registry.k8s.io)`;

describe('tollgate behind a real kube-apiserver', () => {
  let cluster: E2ECluster;
  let served: ServedTollgate;

  beforeAll(async () => {
    cluster = await startCluster();
    served = await serveTollgate(cluster, 'e2e-probe');
    await cluster.kubectl(['create', 'namespace', namespace]);
  });

  afterAll(async () => {
    await served?.tollgate.stop();
    await cluster?.stop();
  });

  /** `tollgate check` of one manifest, with the config the served tollgate runs (and, given `webhooks`, the configurations the apiserver runs). */
  const check = async (manifest: string, args: string[] = [], webhooks?: object[]): Promise<{ code: number; out: string }> => {
    const dir = await mkdtemp(path.join(tmpdir(), 'tollgate-e2e-check-'));
    try {
      await writeFile(path.join(dir, 'tollgate.yaml'), e2eConfig);
      await writeFile(path.join(dir, 'pod.yaml'), manifest);
      if (webhooks) {
        await writeFile(path.join(dir, 'webhooks.json'), JSON.stringify({ apiVersion: 'v1', kind: 'List', items: webhooks }));
        args = [...args, '--webhooks', path.join(dir, 'webhooks.json')];
      }
      let out = '';
      const io = { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (out += s) }, stdin: Readable.from([]) };
      const code = await run(['check', '-c', path.join(dir, 'tollgate.yaml'), '-n', namespace, ...args, path.join(dir, 'pod.yaml')], io);
      return { code, out };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };

  const getPod = async (name: string, ns = namespace): Promise<V1Pod | undefined> => {
    const result = await cluster.kubectl(['get', 'pod', name, '-n', ns, '-o', 'json'], { allowFailure: true });
    if (result.exitCode !== 0) {
      expect(result.stderr).toContain('NotFound');
      return undefined;
    }
    return JSON.parse(result.stdout) as V1Pod;
  };

  it('stores an allowed pod with the injected annotation (kubectl apply)', async () => {
    await cluster.kubectl(['apply', '-n', namespace, '-f', '-'], { input: JSON.stringify(pod('web', allowedImage)) });
    const stored = await getPod('web');
    expect(stored?.metadata?.annotations?.[admittedAnnotation]).toBe('true');
    expect(stored?.spec?.containers[0]?.image).toBe(allowedImage);
  });

  it('stores an allowed pod with the injected annotation (client-node)', async () => {
    const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
    const created = await core.createNamespacedPod({ namespace, body: pod('api', otherAllowedImage) });
    expect(created.metadata?.annotations?.[admittedAnnotation]).toBe('true');
    const read = await core.readNamespacedPod({ name: 'api', namespace });
    expect(read.metadata?.annotations?.[admittedAnnotation]).toBe('true');
  });

  it("refuses a pod from a disallowed registry, and kubectl shows tollgate's message", async () => {
    const result = await cluster.kubectl(['apply', '-n', namespace, '-f', '-'], {
      input: JSON.stringify(pod('miner', deniedImage)),
      allowFailure: true,
    });
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain(deniedMessage('spec.containers[0].image', 'app'));
    expect(await getPod('miner')).toBeUndefined();
  });

  it("refuses the same pod from client-node with 403 and tollgate's message", async () => {
    const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
    const error = await core.createNamespacedPod({ namespace, body: pod('miner-2', deniedImage) }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 403 });
    expect(statusMessage(error)).toBe(deniedMessage('spec.containers[0].image', 'app'));
    expect(await getPod('miner-2')).toBeUndefined();
  });

  it('refuses a pod that pulls a bad image as a volume (stored by this apiserver, which serves image volumes), and one whose image is an image ID', async () => {
    const withVolume = pod('volume', allowedImage) as V1Pod & { spec: { volumes?: unknown[] } };
    withVolume.spec.volumes = [{ name: 'payload', image: { reference: deniedImage, pullPolicy: 'IfNotPresent' } }];
    const result = await cluster.kubectl(['create', '-n', namespace, '-f', '-'], { input: JSON.stringify(withVolume), allowFailure: true });
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain(`spec.volumes[0].image.reference: image volume "payload": image "${deniedImage}" resolves to evil.io/x/miner`);
    expect(await getPod('volume')).toBeUndefined();
    // The same volume from an allowed registry is stored: the apiserver takes the field, so the walk is not moot.
    withVolume.metadata = { ...withVolume.metadata, name: 'volume-ok' };
    withVolume.spec.volumes = [{ name: 'payload', image: { reference: allowedImage, pullPolicy: 'IfNotPresent' } }];
    await cluster.kubectl(['create', '-n', namespace, '-f', '-'], { input: JSON.stringify(withVolume) });
    expect((await getPod('volume-ok'))?.spec?.volumes?.[0]?.image?.reference).toBe(allowedImage);

    const byId = await cluster.kubectl(['create', '-n', namespace, '-f', '-'], { input: JSON.stringify(pod('by-id', `sha256:${'4e'.repeat(32)}`)), allowFailure: true });
    expect(byId.exitCode).not.toBe(0);
    expect(byId.stderr).toContain('an image ID names no repository');
    expect(await getPod('by-id')).toBeUndefined();
  });

  // Manifests that kubectl reads otherwise than a YAML 1.2 reader would (found by a review): the
  // cluster refuses the image kubectl saw, and `tollgate check` must not pass any of them.
  it.each([
    ['a merge key after the image (kubectl lets the merge win)', 'merged', 'image: docker.io/library/busybox:1.37\n      <<: {image: "evil.io/x/miner:1.0"}', 2, 'the merge key << brings "image"'],
    ['a comment ended by U+2028 (a line break to kubectl)', 'separated', 'image: docker.io/library/busybox:1.37 # pinned\u2028      image: evil.io/x/miner:1.0', 2, 'U+2028 is a line break'],
  ])('`tollgate check` refuses a manifest with %s, which kubectl applies with the bad image', async (_what, name, containerLines, exitCode, reason) => {
    const manifest = `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}}\nspec:\n  containers:\n    - name: app\n      ${containerLines}\n`;
    const applied = await cluster.kubectl(['apply', '-n', namespace, '-f', '-'], { input: manifest, allowFailure: true });
    expect(applied.exitCode).not.toBe(0);
    expect(applied.stderr).toContain(`image "${deniedImage}"`);
    const checked = await check(manifest);
    expect(checked.code, checked.out).toBe(exitCode);
    expect(checked.out).toContain(reason);
  });

  it('`tollgate check` judges the items of an object with items, as kubectl applies them, not the object around them', async () => {
    const manifest = `apiVersion: v1\nkind: Pod\nmetadata: {name: decoy}\nspec:\n  containers: [{name: app, image: "${allowedImage}"}]\nitems:\n  - metadata: {name: smuggled}\n    spec:\n      containers: [{name: app, image: "${deniedImage}"}]\n`;
    const applied = await cluster.kubectl(['apply', '-n', namespace, '-f', '-'], { input: manifest, allowFailure: true });
    expect(applied.exitCode).not.toBe(0);
    // kubectl sent the item (the bad image), not the decoy, whose image is allowed and which is not stored.
    expect(applied.stderr).toContain(`image "${deniedImage}"`);
    expect(await getPod('decoy')).toBeUndefined();
    const checked = await check(manifest);
    expect(checked.code, checked.out).toBe(1);
    expect(checked.out).toContain('smuggled');
    expect(checked.out).toContain(deniedImage);
  });

  it('refuses a Deployment whose template hides a bad image in an init container', async () => {
    const apps = cluster.kubeConfig().makeApiClient(AppsV1Api);
    const error = await apps.createNamespacedDeployment({ namespace, body: deployment('hidden', deniedImage) }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 403 });
    expect(statusMessage(error)).toBe(deniedMessage('spec.template.spec.initContainers[0].image', 'setup'));
    const list = await apps.listNamespacedDeployment({ namespace });
    expect(list.items.map((d) => d.metadata?.name)).not.toContain('hidden');

    const good = await apps.createNamespacedDeployment({ namespace, body: deployment('fine', allowedImage) });
    expect(good.metadata?.annotations?.[admittedAnnotation]).toBe('true');
  });

  it('refuses a CronJob whose job template hides a bad image', async () => {
    const result = await cluster.kubectl(['apply', '-n', namespace, '-f', '-'], {
      input: JSON.stringify(cronJob('nightly', deniedImage)),
      allowFailure: true,
    });
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain(deniedMessage('spec.jobTemplate.spec.template.spec.containers[0].image', 'report'));
    const list = await cluster.kubectl(['get', 'cronjobs', '-n', namespace, '-o', 'name']);
    expect(list.stdout).not.toContain('nightly');
  });

  it('refuses an UPDATE that swaps a bad image into a stored pod, and admits a good swap', async () => {
    await cluster.kubectl(['apply', '-n', namespace, '-f', '-'], { input: JSON.stringify(pod('swap', allowedImage)) });
    const bad = await cluster.kubectl(['set', 'image', '-n', namespace, 'pod/swap', `app=${deniedImage}`], { allowFailure: true });
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr).toContain(deniedMessage('spec.containers[0].image', 'app'));
    expect((await getPod('swap'))?.spec?.containers[0]?.image).toBe(allowedImage);

    await cluster.kubectl(['set', 'image', '-n', namespace, 'pod/swap', `app=${otherAllowedImage}`]);
    expect((await getPod('swap'))?.spec?.containers[0]?.image).toBe(otherAllowedImage);
  });

  it('refuses a bad ephemeral debug container added through pods/ephemeralcontainers (kubectl debug)', async () => {
    await cluster.kubectl(['apply', '-n', namespace, '-f', '-'], { input: JSON.stringify(pod('debugged', allowedImage)) });
    const bad = await cluster.kubectl(
      ['debug', '-n', namespace, 'debugged', `--image=${deniedImage}`, '--target=app', '--container=shell'],
      { allowFailure: true },
    );
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr).toContain(deniedMessage('spec.ephemeralContainers[0].image', 'shell'));
    expect((await getPod('debugged'))?.spec?.ephemeralContainers ?? []).toEqual([]);

    await cluster.kubectl(['debug', '-n', namespace, 'debugged', `--image=${otherAllowedImage}`, '--target=app', '--container=shell']);
    const stored = await getPod('debugged');
    expect(stored?.spec?.ephemeralContainers?.map((c) => [c.name, c.image, c.targetContainerName])).toEqual([
      ['shell', otherAllowedImage, 'app'],
    ]);
  });

  it('gives `kubectl apply --dry-run=server` the same verdicts and stores nothing', async () => {
    const bad = await cluster.kubectl(['apply', '--dry-run=server', '-n', namespace, '-f', '-'], {
      input: JSON.stringify(pod('dry-miner', deniedImage)),
      allowFailure: true,
    });
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr).toContain(deniedMessage('spec.containers[0].image', 'app'));

    const badDeployment = await cluster.kubectl(['apply', '--dry-run=server', '-n', namespace, '-f', '-'], {
      input: JSON.stringify(deployment('dry-hidden', deniedImage)),
      allowFailure: true,
    });
    expect(badDeployment.exitCode).not.toBe(0);
    expect(badDeployment.stderr).toContain(deniedMessage('spec.template.spec.initContainers[0].image', 'setup'));

    const good = await cluster.kubectl(['apply', '--dry-run=server', '-n', namespace, '-o', 'json', '-f', '-'], {
      input: JSON.stringify(pod('dry-web', allowedImage)),
    });
    const answered = JSON.parse(good.stdout) as V1Pod;
    expect(answered.metadata?.annotations?.[admittedAnnotation]).toBe('true');

    for (const name of ['dry-miner', 'dry-web']) expect(await getPod(name)).toBeUndefined();
    const deployments = await cluster.kubectl(['get', 'deployments', '-n', namespace, '-o', 'name']);
    expect(deployments.stdout).not.toContain('dry-hidden');
  });

  it('passes on the warning of a warn-mode policy and stores the object', async () => {
    const warnNamespace = `${warnNamespacePrefix}-1`;
    await cluster.kubectl(['create', 'namespace', warnNamespace]);
    const result = await cluster.kubectl(['apply', '-n', warnNamespace, '-f', '-'], { input: JSON.stringify(pod('unpinned', allowedImage)) });
    expect(result.stderr).toContain(
      `Warning: [digest-advice] spec.containers[0].image: container "app": image "${allowedImage}" must be pinned by digest`,
    );
    const stored = await getPod('unpinned', warnNamespace);
    expect(stored?.metadata?.annotations?.[admittedAnnotation]).toBe('true');

    // The policy matches e2e-warn* only: the same pod elsewhere draws no warning.
    const elsewhere = await cluster.kubectl(['apply', '-n', namespace, '-f', '-'], { input: JSON.stringify(pod('unpinned', allowedImage)) });
    expect(elsewhere.stderr).not.toContain('Warning');
  });

  /** What a kubelet's mirror of a static pod looks like to the apiserver (a user may create one too). */
  const mirrorPod = (name: string, image: string): V1Pod => {
    const mirror = pod(name, image, namespace);
    return { ...mirror, metadata: { ...mirror.metadata, annotations: { 'kubernetes.io/config.mirror': 'abc' } }, spec: { ...mirror.spec!, nodeName: 'node-1' } };
  };

  it('`tollgate check --webhooks` with the configurations the apiserver runs gives its verdict and its mutation, object by object', async () => {
    const objects: object[] = [
      pod('parity-system', deniedImage, 'kube-system'),
      pod('parity-bad', deniedImage, namespace),
      pod('parity-good', allowedImage, namespace),
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'parity-settings', namespace } },
      mirrorPod('parity-mirror', allowedImage),
      mirrorPod('parity-mirror-bad', deniedImage),
    ];
    const differsWithout: string[] = [];
    for (const object of objects) {
      const name = (object as { metadata: { name: string } }).metadata.name;
      const created = await cluster.kubectl(['create', '--dry-run=server', '-o', 'json', '-f', '-'], { input: JSON.stringify(object), allowFailure: true });
      const clusterAllowed = created.exitCode === 0;
      const clusterMutated = clusterAllowed && (JSON.parse(created.stdout) as V1Pod).metadata?.annotations?.[admittedAnnotation] === 'true';
      if (!clusterAllowed) expect(created.stderr, name).toContain('denied the request');

      const verdictOf = async (webhooks?: object[]) => {
        const checked = await check(JSON.stringify(object), ['-o', 'json'], webhooks);
        const [result] = (JSON.parse(checked.out) as { results: Array<{ allowed: boolean; patch: unknown[] }> }).results;
        expect(checked.code, checked.out).toBe(result?.allowed ? 0 : 1);
        // A denied object is not stored, so the cluster shows no mutation of it.
        return { allowed: result?.allowed, mutated: result?.allowed === true && result.patch.length > 0 };
      };
      expect(await verdictOf(served.webhooks), name).toEqual({ allowed: clusterAllowed, mutated: clusterMutated });
      const without = await verdictOf();
      if (without.allowed !== clusterAllowed || without.mutated !== clusterMutated) differsWithout.push(name);
    }
    // The cases tell: without the configurations, check judges the kube-system pod and annotates the
    // ConfigMap. (The mirror pods agree either way: annotation-injection skips them itself, and the
    // validating webhook, which has no such condition, judges them.)
    expect(differsWithout).toEqual(['parity-system', 'parity-settings']);
  });

  it('`tollgate check --webhooks` reads namespaceSelector (on labels the manifests give a namespace), objectSelector and matchConditions as the apiserver does', async () => {
    const [shippedMutating] = served.webhooks;
    const configMaps: WebhookConfiguration = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: 'tollgate-e2e-configmaps' },
      webhooks: [
        {
          name: 'configmaps.tollgate.dev',
          admissionReviewVersions: ['v1'],
          clientConfig: shippedMutating!.webhooks[0]!.clientConfig,
          sideEffects: 'None',
          failurePolicy: 'Fail',
          rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['configmaps'] }],
          namespaceSelector: { matchLabels: { 'tollgate-e2e': 'opt-in' } },
          objectSelector: { matchExpressions: [{ key: 'skip', operator: 'DoesNotExist' }] },
          matchConditions: [{ name: 'not-marked', expression: "!has(object.data) || !('skip-me' in object.data)" }],
        },
      ],
    };
    const namespaces = [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'e2e-opt-in', labels: { 'tollgate-e2e': 'opt-in' } } },
      // The label is given a value: a Namespace without it may still have it in the cluster (check takes the webhook to be called then).
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'e2e-opt-out', labels: { 'tollgate-e2e': 'opt-out' } } },
    ];
    await kubectlApply(cluster, [...namespaces, configMaps]);
    const configMap = (name: string, ns: string, extra: Record<string, unknown> = {}) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns }, ...extra });
    const clusterMutates = async (object: object) => {
      const created = await cluster.kubectl(['create', '--dry-run=server', '-o', 'json', '-f', '-'], { input: JSON.stringify(object) });
      return (JSON.parse(created.stdout) as V1Pod).metadata?.annotations?.[admittedAnnotation] === 'true';
    };
    try {
      await waitFor('the ConfigMap webhook to be in force', () => clusterMutates(configMap('probe', 'e2e-opt-in')));
      const cases = [
        configMap('plain', 'e2e-opt-in'),
        { ...configMap('labelled', 'e2e-opt-in'), metadata: { name: 'labelled', namespace: 'e2e-opt-in', labels: { skip: 'yes' } } },
        configMap('marked', 'e2e-opt-in', { data: { 'skip-me': '1' } }),
        configMap('other-data', 'e2e-opt-in', { data: { kept: '1' } }),
        configMap('plain', 'e2e-opt-out'),
      ];
      const webhooks = [...served.webhooks, configMaps];
      const clusterSays = await Promise.all(cases.map(clusterMutates));
      expect(clusterSays).toEqual([true, false, false, true, false]);
      // The namespaces are in the manifests checked, as they would be in a repository's.
      const manifest = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [...namespaces, ...cases] });
      const checked = await check(manifest, ['-o', 'json'], webhooks);
      const results = (JSON.parse(checked.out) as { results: Array<{ kind: string; patch: unknown[]; notes: string[] }> }).results.filter((r) => r.kind === 'ConfigMap');
      expect(results.map((r) => r.patch.length > 0)).toEqual(clusterSays);

      // Without the namespace in the manifests, its labels are not known offline: the webhook is taken
      // to be called (stricter than the cluster, which does not mutate it), and the result says so.
      const undeclared = await check(JSON.stringify(configMap('plain', 'e2e-opt-out')), ['-o', 'json'], webhooks);
      const [result] = (JSON.parse(undeclared.out) as { results: Array<{ patch: unknown[]; notes: string[] }> }).results;
      expect(result?.patch.length).toBeGreaterThan(0);
      expect(result?.notes).toEqual([
        'webhook configmaps.tollgate.dev: namespace e2e-opt-out is not declared in the manifests checked, and its namespaceSelector reads its label "tollgate-e2e": taken to be called',
      ]);
    } finally {
      await cluster.kubectl(['delete', 'mutatingwebhookconfiguration', configMaps.metadata.name]);
    }
  });

  it('leaves kube-system alone, as the shipped namespaceSelector says', async () => {
    await cluster.kubectl(['apply', '-n', 'kube-system', '-f', '-'], { input: JSON.stringify(pod('system-miner', deniedImage)) });
    const stored = await getPod('system-miner', 'kube-system');
    expect(stored?.spec?.containers[0]?.image).toBe(deniedImage);
    expect(stored?.metadata?.annotations?.[admittedAnnotation]).toBeUndefined();
  });
});
