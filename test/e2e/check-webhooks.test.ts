// `tollgate check --webhooks` held to the real apiserver's webhook dispatch where the offline view
// is easy to get wrong: matchConditions reading what the request carries beyond the manifest (the
// user, dryRun), CEL over keys JavaScript treats specially (`__proto__`), RE2 against JavaScript's
// regular expressions, and resources the apiserver counts as equivalent across groups. Each case
// has its own webhook (selected by the object's `case` label) calling tollgate's /mutate, so the
// cluster's answer says whether that webhook was called: the object comes back annotated, or
// refused when tollgate answers 400. Custom kinds (CustomResourceDefinitions installed in the
// cluster) are checked with their definition among the manifests, where check must agree with the
// cluster, and without it, where their resource and scope are guesses and check may only be
// stricter, with a note.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/cli/main.js';
import { kubectlApply, startCluster, waitFor, type E2ECluster, type WebhookConfiguration } from './harness/index.js';
import { admittedAnnotation, e2eConfig, serveTollgate, type ServedTollgate } from './fixture.js';

const namespace = 'e2e-check-webhooks';

type Outcome = 'called' | 'not called' | 'refused';

interface Case {
  name: string;
  /** The webhook's rules; ConfigMaps by default. */
  rules?: object[];
  matchConditions?: Array<{ name: string; expression: string }>;
  namespaceSelector?: object;
  object: Record<string, unknown>;
  /** Created for real rather than as a server-side dry run (the request's dryRun is false). */
  real?: boolean;
  /** Checked before the object, in the same file (the CustomResourceDefinition of its kind); the cluster has what beforeAll installed. */
  documents?: object[];
  /** A custom kind: without `documents`, its resource and scope are guesses, noted. */
  guessedWithout?: boolean;
  /** What the apiserver does, where that is not to call the webhook. */
  clusterExpected?: Outcome;
  /** A validating webhook calling /validate, after the mutating ones: only a refusal (tollgate's 400) shows it called. */
  validating?: boolean;
}

/** A CustomResourceDefinition serving one version, any content. */
const crd = (group: string, kind: string, plural: string, scope: 'Namespaced' | 'Cluster', annotations?: Record<string, string>) => ({
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `${plural}.${group}`, ...(annotations ? { annotations } : {}) },
  spec: {
    group,
    scope,
    names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
    versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
  },
});

const customGroup = 'e2e.tollgate.dev';
/** Namespaced, and its plural is not the English one check would guess ("podchaoses"). */
const podChaosDefinition = crd(customGroup, 'PodChaos', 'podchaos', 'Namespaced');
/** Cluster-scoped, and its kind does not start with Cluster: check would guess it namespaced, in `default`. */
const gizmoDefinition = crd(customGroup, 'Gizmo', 'gizmos', 'Cluster');
/** Cluster-scoped, in a *.k8s.io group that Kubernetes does not serve itself (external-snapshotter's). */
const snapshotClassDefinition = crd('snapshot.storage.k8s.io', 'VolumeSnapshotClass', 'volumesnapshotclasses', 'Cluster', {
  'api-approved.kubernetes.io': 'https://github.com/kubernetes-csi/external-snapshotter/pull/814',
});
const DEFINITIONS = [podChaosDefinition, gizmoDefinition, snapshotClassDefinition];

/** A namespaceSelector that exempts `default`, where check puts a namespaced object that names no namespace. */
const notDefault = { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['default'] }] };

const configMapRules = [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['configmaps'] }];

const configMap = (name: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace, labels: { case: name } },
  ...extra,
});

const CASES: Case[] = [
  {
    // The user applying is the pipeline's, not the one check makes up.
    name: 'admins',
    matchConditions: [{ name: 'admins', expression: "request.userInfo.groups.exists(g, g == 'system:masters')" }],
    object: configMap('admins'),
  },
  {
    // `kubectl apply` is not a dry run; check judges as if it were one.
    name: 'not-dry-run',
    matchConditions: [{ name: 'not-dry-run', expression: '!request.dryRun' }],
    object: configMap('not-dry-run'),
    real: true,
  },
  {
    // A data key the apiserver stores as any other; tollgate's parser answers 400 for it.
    name: 'proto-data',
    matchConditions: [{ name: 'has-data', expression: 'size(object.data) > 0' }],
    object: configMap('proto-data', { data: JSON.parse('{"__proto__": "x"}') as object }),
  },
  {
    // RE2's \p{L} is a Unicode letter; JavaScript without the u flag reads it as "p{L}".
    name: 'letters',
    matchConditions: [{ name: 'letters', expression: "object.data.word.matches('^\\\\p{L}+$')" }],
    object: configMap('letters', { data: { word: 'é' } }),
  },
  {
    // events.k8s.io's events and core events are one resource to the apiserver (matchPolicy Equivalent).
    name: 'events',
    rules: [{ operations: ['CREATE'], apiGroups: ['events.k8s.io'], apiVersions: ['v1'], resources: ['events'] }],
    object: {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: 'events', namespace, labels: { case: 'events' } },
      involvedObject: { kind: 'ConfigMap', name: 'x', namespace },
      reason: 'Probe',
      message: 'probe',
      type: 'Normal',
      eventTime: '2026-01-01T00:00:00.000000Z',
      action: 'Probe',
      reportingComponent: 'e2e',
      reportingInstance: 'e2e',
    },
  },
  {
    // The plural is podchaos, not the guessed podchaoses.
    name: 'podchaos',
    rules: [{ operations: ['CREATE'], apiGroups: [customGroup], apiVersions: ['v1'], resources: ['podchaos'] }],
    object: { apiVersion: `${customGroup}/v1`, kind: 'PodChaos', metadata: { name: 'podchaos', namespace, labels: { case: 'podchaos' } } },
    documents: [podChaosDefinition],
    guessedWithout: true,
  },
  {
    // Cluster-scoped: never exempted by the namespaceSelector, and only a cluster-scoped rule matches it.
    name: 'gizmo',
    rules: [{ operations: ['CREATE'], apiGroups: [customGroup], apiVersions: ['v1'], resources: ['gizmos'], scope: 'Cluster' }],
    namespaceSelector: notDefault,
    object: { apiVersion: `${customGroup}/v1`, kind: 'Gizmo', metadata: { name: 'gizmo', labels: { case: 'gizmo' } } },
    documents: [gizmoDefinition],
    guessedWithout: true,
  },
  {
    // Not built in though its group ends in .k8s.io: cluster-scoped, never exempted by the namespaceSelector.
    name: 'snapshot-class',
    rules: [{ operations: ['CREATE'], apiGroups: ['snapshot.storage.k8s.io'], apiVersions: ['v1'], resources: ['volumesnapshotclasses'] }],
    namespaceSelector: notDefault,
    object: { apiVersion: 'snapshot.storage.k8s.io/v1', kind: 'VolumeSnapshotClass', metadata: { name: 'snapshot-class', labels: { case: 'snapshot-class' } } },
    documents: [snapshotClassDefinition],
    guessedWithout: true,
  },
  {
    // A definition the apiserver refuses (its group has no dot) cannot make a built-in kind cluster-scoped
    // or rename its resource: kubectl apply goes on to the ConfigMap, which the webhook is called for.
    name: 'false-definition',
    object: configMap('false-definition'),
    documents: [crd('', 'ConfigMap', 'notconfigmaps', 'Cluster')],
  },
  {
    // Two definitions of one kind: the apiserver accepts the kind's names for one only (the other's
    // NamesAccepted is false), and which is not known offline: taken to be guessed.
    name: 'podchaos-redefined',
    rules: [{ operations: ['CREATE'], apiGroups: [customGroup], apiVersions: ['v1'], resources: ['podchaos'] }],
    object: { apiVersion: `${customGroup}/v1`, kind: 'PodChaos', metadata: { name: 'podchaos-redefined', namespace, labels: { case: 'podchaos-redefined' } } },
    documents: [podChaosDefinition, crd(customGroup, 'PodChaos', 'podchaoses', 'Cluster')],
    guessedWithout: true,
  },
  {
    // A generateName object has no name when the mutating webhooks see it, and the apiserver leaves an
    // empty name out of `request`: reading it is an error, which failurePolicy Fail makes a refusal.
    name: 'unnamed',
    matchConditions: [{ name: 'unnamed', expression: "request.name == ''" }],
    object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: 'unnamed-', namespace, labels: { case: 'unnamed' } } },
    clusterExpected: 'refused',
  },
  {
    // The name is generated before the validating webhooks: they see it (random after the prefix).
    name: 'generated-name',
    validating: true,
    matchConditions: [{ name: 'generated', expression: "request.name.startsWith('generated-') && object.metadata.name == request.name" }],
    object: {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { generateName: 'generated-', namespace, labels: { case: 'generated-name' } },
      data: JSON.parse('{"__proto__": "x"}') as object,
    },
  },
  {
    // The apiserver never sends a webhook configuration to a webhook (nor an admission policy), whatever its rules.
    name: 'webhook-configuration',
    rules: [{ operations: ['*'], apiGroups: ['*'], apiVersions: ['*'], resources: ['*/*'] }],
    object: {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: 'e2e-exempt', labels: { case: 'webhook-configuration' } },
      webhooks: [],
    },
    clusterExpected: 'not called',
  },
  {
    // The same rules on a ConfigMap: the webhook above is in force.
    name: 'everything',
    rules: [{ operations: ['*'], apiGroups: ['*'], apiVersions: ['*'], resources: ['*/*'] }],
    object: configMap('everything'),
  },
];

describe('tollgate check --webhooks against the apiserver’s dispatch', () => {
  let cluster: E2ECluster;
  let served: ServedTollgate;
  let configurations: WebhookConfiguration[];

  beforeAll(async () => {
    cluster = await startCluster();
    served = await serveTollgate(cluster, 'e2e-probe');
    await cluster.kubectl(['create', 'namespace', namespace]);
    await kubectlApply(cluster, DEFINITIONS);
    for (const definition of DEFINITIONS) await cluster.kubectl(['wait', '--for', 'condition=established', '--timeout=60s', `crd/${definition.metadata.name}`]);
    const [shippedMutating] = served.webhooks;
    const clientConfig = shippedMutating!.webhooks[0]!.clientConfig as { url: string };
    const configuration = (kind: 'Mutating' | 'Validating', cases: Case[], path: string): WebhookConfiguration => ({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: `${kind}WebhookConfiguration`,
      metadata: { name: `tollgate-e2e-check-webhooks-${kind.toLowerCase()}` },
      webhooks: cases.map((c) => ({
        name: `${c.name}.tollgate.dev`,
        admissionReviewVersions: ['v1'],
        clientConfig: { ...clientConfig, url: clientConfig.url.replace(/\/mutate$/, path) },
        sideEffects: 'None',
        failurePolicy: 'Fail',
        rules: c.rules ?? configMapRules,
        ...(c.namespaceSelector ? { namespaceSelector: c.namespaceSelector } : {}),
        objectSelector: { matchLabels: { case: c.name } },
        ...(c.matchConditions ? { matchConditions: c.matchConditions } : {}),
      })),
    });
    configurations = [configuration('Mutating', CASES.filter((c) => !c.validating), '/mutate'), configuration('Validating', CASES.filter((c) => c.validating), '/validate')];
    await kubectlApply(cluster, configurations);
    const probe = { ...configMap('admins'), metadata: { name: 'probe', namespace, labels: { case: 'admins' } } };
    await waitFor('the case webhooks to be in force', async () => (await clusterSays({ name: 'probe', object: probe })) === 'called');
    const validatingProbe = CASES.find((c) => c.validating)!;
    await waitFor('the validating case webhooks to be in force', async () => (await clusterSays(validatingProbe)) === 'refused');
  });

  afterAll(async () => {
    await served?.tollgate.stop();
    await cluster?.stop();
  });

  async function clusterSays(c: Case): Promise<Outcome> {
    const args = c.real ? ['create', '-o', 'json', '-f', '-'] : ['create', '--dry-run=server', '-o', 'json', '-f', '-'];
    const created = await cluster.kubectl(args, { input: JSON.stringify(c.object), allowFailure: true });
    if (created.exitCode !== 0) {
      // Refused by a policy, or by the webhook's failurePolicy when tollgate answers 400 or a matchCondition fails to evaluate.
      expect(created.stderr).toMatch(/denied the request|failed calling webhook|resulted in error/);
      return 'refused';
    }
    if (c.real) await cluster.kubectl(['delete', '-f', '-'], { input: JSON.stringify(c.object) });
    const annotations = (JSON.parse(created.stdout) as { metadata?: { annotations?: Record<string, string> } }).metadata?.annotations;
    return annotations?.[admittedAnnotation] === 'true' ? 'called' : 'not called';
  }

  /** `tollgate check --webhooks` of the case's documents, then its object, in one file: the object's result. */
  async function checkSays(c: Case, documents: readonly object[] = c.documents ?? []): Promise<{ outcome: Outcome; notes: string[] }> {
    const dir = await mkdtemp(path.join(tmpdir(), 'tollgate-e2e-check-webhooks-'));
    try {
      await writeFile(path.join(dir, 'tollgate.yaml'), e2eConfig);
      // JSON documents are YAML; the object last.
      await writeFile(path.join(dir, 'object.yaml'), [...documents, c.object].map((d) => JSON.stringify(d)).join('\n---\n'));
      await writeFile(path.join(dir, 'webhooks.yaml'), configurations.map((c) => JSON.stringify(c)).join('\n---\n'));
      let out = '';
      const io = { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (out += s) }, stdin: Readable.from([]) };
      await run(['check', '-c', path.join(dir, 'tollgate.yaml'), '-o', 'json', '--webhooks', path.join(dir, 'webhooks.yaml'), path.join(dir, 'object.yaml')], io);
      const { results } = JSON.parse(out) as { results: Array<{ allowed: boolean; patch: unknown[]; notes: string[] }> };
      expect(results).toHaveLength(documents.length + 1);
      const result = results.at(-1)!;
      const outcome: Outcome = !result.allowed ? 'refused' : result.patch.length > 0 ? 'called' : 'not called';
      return { outcome, notes: result.notes };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  it.each(CASES.map((c) => [c.name, c] as const))('%s: check calls tollgate where the apiserver does (or is stricter, with a note)', async (_name, c) => {
    const cluster = await clusterSays(c);
    const offline = await checkSays(c);
    if (c.clusterExpected) expect(cluster, 'what the apiserver does').toBe(c.clusterExpected);
    else expect(cluster, 'what the apiserver does').not.toBe('not called');
    // With the kind's definition among the manifests, or where the apiserver calls no webhook, nothing is left to guess.
    if (c.name === 'podchaos-redefined') expect(offline).toEqual({ outcome: cluster, notes: [expect.stringContaining('no CustomResourceDefinition among the manifests defines it')] });
    else if (c.documents || c.clusterExpected) expect(offline).toEqual({ outcome: cluster, notes: [] });
    // Either the same outcome, or check is stricter (refuses where the cluster calls) and says why.
    if (offline.outcome !== cluster) {
      expect(offline.outcome).toBe('refused');
      expect(offline.notes.length).toBeGreaterThan(0);
    }
  });

  it.each(CASES.filter((c) => c.guessedWithout).map((c) => [c.name, c] as const))(
    '%s: without its CustomResourceDefinition among the manifests, check is as strict or stricter, with a note',
    async (_name, c) => {
      const cluster = await clusterSays(c);
      const offline = await checkSays(c, []);
      expect(cluster, 'what the apiserver does').toBe('called');
      // The kind's resource and scope are guesses, under which its webhook would not be called: taken to be called.
      expect(offline.outcome).not.toBe('not called');
      expect(offline.notes).toEqual([expect.stringContaining('no CustomResourceDefinition among the manifests defines it')]);
    },
  );
});
