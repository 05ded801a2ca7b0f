// `tollgate check --webhooks`: which of tollgate's endpoints the apiserver calls for a request, from
// the cluster's webhook configurations (rules, namespaceSelector, objectSelector, matchPolicy,
// matchConditions), and what that does to the offline verdict. e2e/admission.test.ts holds the
// shipped configurations' verdicts to a real kube-apiserver's.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { AdmissionRequest, KubernetesObject } from '../../src/admission/types.js';
import { PolicyEngine } from '../../src/engine/engine.js';
import { checkManifests } from '../../src/manifests/check.js';
import { parseManifests } from '../../src/manifests/read.js';
import { createRequest } from '../../src/manifests/request.js';
import { NamespaceLabels, WebhookConfigurations, selectorMatches, type WebhookEndpoint } from '../../src/manifests/webhooks.js';
import { mutating, validating } from '../helpers/policies.js';

const SHIPPED = readFileSync(new URL('../../manifests/webhooks.yaml', import.meta.url), 'utf8');

/** One configuration of `kind` holding one webhook, from the YAML of the webhook's fields. */
function configuration(webhookYaml: string, kind: 'Mutating' | 'Validating' = 'Validating'): WebhookConfigurations {
  const path = kind === 'Mutating' ? '/mutate' : '/validate';
  const indented = webhookYaml.trim().split('\n').map((line) => `    ${line}`).join('\n');
  const text = `apiVersion: admissionregistration.k8s.io/v1\nkind: ${kind}WebhookConfiguration\nmetadata: {name: t}\nwebhooks:\n  - name: w.tollgate.dev\n    clientConfig: {service: {name: tollgate, namespace: t, path: ${path}}}\n${indented}\n`;
  return WebhookConfigurations.fromDocuments(parseManifests(text, 'webhooks.yaml'));
}

const POD_RULE = 'rules: [{operations: [CREATE, UPDATE], apiGroups: [""], apiVersions: [v1], resources: [pods]}]';

const pod = (metadata: Record<string, unknown> = {}): KubernetesObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', namespace: 'shop', ...metadata },
  spec: { containers: [{ name: 'app', image: 'nginx' }] },
});

const noNamespaces = new NamespaceLabels([]);

/** The names of the webhooks called for `request` in a phase, or the rejection. */
function called(webhooks: WebhookConfigurations, request: AdmissionRequest, phase: WebhookEndpoint = 'validate', namespaces = noNamespaces) {
  const dispatch = webhooks.dispatch(phase, request, namespaces);
  return dispatch.rejected ?? dispatch.called.map((w) => w.name);
}

describe('label selectors, as apimachinery evaluates them', () => {
  it.each([
    [{}, {}, true],
    [{ matchLabels: { a: 'b' } }, { a: 'b', c: 'd' }, true],
    [{ matchLabels: { a: 'b' } }, { a: 'c' }, false],
    [{ matchExpressions: [{ key: 'a', operator: 'In', values: ['x', 'y'] }] }, { a: 'y' }, true],
    [{ matchExpressions: [{ key: 'a', operator: 'In', values: ['x'] }] }, {}, false],
    [{ matchExpressions: [{ key: 'a', operator: 'NotIn', values: ['x'] }] }, {}, true],
    [{ matchExpressions: [{ key: 'a', operator: 'NotIn', values: ['x'] }] }, { a: 'x' }, false],
    [{ matchExpressions: [{ key: 'a', operator: 'Exists' }] }, { a: '' }, true],
    [{ matchExpressions: [{ key: 'a', operator: 'DoesNotExist' }] }, { a: '' }, false],
    [{ matchExpressions: [{ key: 'constructor', operator: 'Exists' }] }, {}, false],
    [{ matchLabels: { a: 'b' }, matchExpressions: [{ key: 'c', operator: 'Exists' }] }, { a: 'b' }, false],
  ] as const)('%j on %j: %s', (selector, labels, expected) => {
    expect(selectorMatches(selector as never, labels)).toBe(expected);
  });
});

describe('rules, as rules.Matcher reads them', () => {
  it('never calls a webhook for webhook configurations and admission policies, as the apiserver exempts them', () => {
    const everything = configuration('rules: [{operations: ["*"], apiGroups: ["*"], apiVersions: ["*"], resources: ["*/*"]}]');
    for (const kind of ['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration', 'ValidatingAdmissionPolicy', 'MutatingAdmissionPolicyBinding']) {
      expect(called(everything, createRequest({ apiVersion: 'admissionregistration.k8s.io/v1', kind, metadata: { name: 'x' } })), kind).toEqual([]);
    }
    // The same kind in another group is not exempt.
    expect(called(everything, createRequest({ apiVersion: 'example.com/v1', kind: 'ValidatingWebhookConfiguration', metadata: { name: 'x' } }))).toEqual(['w.tollgate.dev']);
  });

  it('notes a webhook its rules call on an UPDATE only: a re-apply of the object is one', () => {
    const dispatch = configuration('rules: [{operations: [UPDATE], apiGroups: [""], apiVersions: [v1], resources: [pods]}]').dispatch('validate', createRequest(pod()), noNamespaces);
    expect(dispatch.called).toEqual([]);
    expect(dispatch.notes).toEqual([
      "webhook w.tollgate.dev is not called on the object's creation, which check judges, but is on an UPDATE of it (a re-apply once it exists)",
    ]);
  });

  it.each([
    ['the resource and operation', POD_RULE, createRequest(pod()), true],
    ['another resource', POD_RULE, createRequest({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }), false],
    ['another operation', 'rules: [{operations: [UPDATE], apiGroups: [""], apiVersions: [v1], resources: [pods]}]', createRequest(pod()), false],
    ['"*" operations', 'rules: [{operations: ["*"], apiGroups: [""], apiVersions: [v1], resources: [pods]}]', createRequest(pod()), true],
    ['another group', 'rules: [{operations: [CREATE], apiGroups: [apps], apiVersions: [v1], resources: [pods]}]', createRequest(pod()), false],
    ['"*" resources do not take subresources', 'rules: [{operations: [UPDATE], apiGroups: [""], apiVersions: [v1], resources: ["*"]}]', createRequest(pod(), { operation: 'UPDATE', oldObject: pod(), subResource: 'ephemeralcontainers' }), false],
    ['"pods" does not take pods/ephemeralcontainers', 'rules: [{operations: [UPDATE], apiGroups: [""], apiVersions: [v1], resources: [pods]}]', createRequest(pod(), { operation: 'UPDATE', oldObject: pod(), subResource: 'ephemeralcontainers' }), false],
    ['"pods/*" does', 'rules: [{operations: [UPDATE], apiGroups: [""], apiVersions: [v1], resources: ["pods/*"]}]', createRequest(pod(), { operation: 'UPDATE', oldObject: pod(), subResource: 'ephemeralcontainers' }), true],
    ['scope Cluster and a namespaced object', 'rules: [{operations: [CREATE], apiGroups: ["*"], apiVersions: ["*"], resources: ["*"], scope: Cluster}]', createRequest(pod()), false],
    ['scope Cluster and a Namespace', 'rules: [{operations: [CREATE], apiGroups: ["*"], apiVersions: ["*"], resources: ["*"], scope: Cluster}]', createRequest({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'n' } }), true],
    ['scope Namespaced and a Namespace', 'rules: [{operations: [CREATE], apiGroups: ["*"], apiVersions: ["*"], resources: ["*"], scope: Namespaced}]', createRequest({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'n' } }), false],
    ['scope Namespaced and a namespaced object', 'rules: [{operations: [CREATE], apiGroups: ["*"], apiVersions: ["*"], resources: ["*"], scope: Namespaced}]', createRequest(pod()), true],
    ['no rules', 'rules: []', createRequest(pod()), false],
  ] as const)('%s: called %s', (_what, rules, request, expected) => {
    expect(called(configuration(rules), request)).toEqual(expected ? ['w.tollgate.dev'] : []);
  });

  it('calls a webhook whose rule names another version of the resource under matchPolicy Equivalent (the default), with a note, and not under Exact', () => {
    const v1beta1 = 'rules: [{operations: [CREATE], apiGroups: [apps], apiVersions: [v1beta2], resources: [deployments]}]';
    const deployment = createRequest({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' } });
    const dispatch = configuration(v1beta1).dispatch('validate', deployment, noNamespaces);
    expect(dispatch.called.map((w) => w.name)).toEqual(['w.tollgate.dev']);
    expect(dispatch.notes[0]).toContain('only through another version of it');
    expect(called(configuration(`${v1beta1}\nmatchPolicy: Exact`), deployment)).toEqual([]);
  });
});

describe('namespaceSelector and objectSelector', () => {
  const notSystem = `${POD_RULE}\nnamespaceSelector: {matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [kube-system]}]}`;

  it("leaves out kube-system by the name label the apiserver sets on every namespace, declared or not", () => {
    const webhooks = configuration(notSystem);
    expect(called(webhooks, createRequest(pod({ namespace: 'kube-system' })))).toEqual([]);
    expect(called(webhooks, createRequest(pod({ namespace: 'shop' })))).toEqual(['w.tollgate.dev']);
  });

  it('reads the labels of a namespace the manifests declare, with its name label', () => {
    const webhooks = configuration(`${POD_RULE}\nnamespaceSelector: {matchLabels: {tollgate: enforce}}`);
    const namespaces = new NamespaceLabels([
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { tollgate: 'enforce' } } },
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'lab', labels: { tollgate: 'off' } } },
    ]);
    expect(called(webhooks, createRequest(pod({ namespace: 'shop' })), 'validate', namespaces)).toEqual(['w.tollgate.dev']);
    expect(called(webhooks, createRequest(pod({ namespace: 'lab' })), 'validate', namespaces)).toEqual([]);
    // The name label cannot be set otherwise by the manifest.
    const byName = configuration(`${POD_RULE}\nnamespaceSelector: {matchLabels: {kubernetes.io/metadata.name: shop}}`);
    const spoofed = new NamespaceLabels([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'lab', labels: { 'kubernetes.io/metadata.name': 'shop' } } }]);
    expect(called(byName, createRequest(pod({ namespace: 'lab' })), 'validate', spoofed)).toEqual([]);
  });

  it('takes the webhook to be called, with a note, when the selector reads a label the manifests do not give the namespace', () => {
    const webhooks = configuration(`${POD_RULE}\nnamespaceSelector: {matchLabels: {tollgate: enforce}}`);
    const dispatch = webhooks.dispatch('validate', createRequest(pod({ namespace: 'elsewhere' })), noNamespaces);
    expect(dispatch.called.map((w) => w.name)).toEqual(['w.tollgate.dev']);
    expect(dispatch.notes).toEqual([
      'webhook w.tollgate.dev: namespace elsewhere is not declared in the manifests checked, and its namespaceSelector reads its label "tollgate": taken to be called',
    ]);
    // Declared without that label: the cluster's namespace may still have it (kubectl apply keeps labels set by others).
    const unlabelled = new NamespaceLabels([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'lab', labels: { team: 'x' } } }]);
    const declared = webhooks.dispatch('validate', createRequest(pod({ namespace: 'lab' })), unlabelled);
    expect(declared.called.map((w) => w.name)).toEqual(['w.tollgate.dev']);
    expect(declared.notes).toEqual([expect.stringContaining('the manifests\' Namespace lab does not give its label "tollgate"')]);
    // An opt-out selector on a label the namespace is declared without is unknown just the same.
    const optOut = configuration(`${POD_RULE}\nnamespaceSelector: {matchExpressions: [{key: tollgate/skip, operator: DoesNotExist}]}`);
    expect(optOut.dispatch('validate', createRequest(pod({ namespace: 'lab' })), unlabelled).notes).toHaveLength(1);
  });

  it('knows a label only where every declaration of the namespace gives it the same string value', () => {
    const webhooks = configuration(`${POD_RULE}\nnamespaceSelector: {matchLabels: {tollgate: enforce}}`);
    const twice = new NamespaceLabels([
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { tollgate: 'enforce' } } },
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { tollgate: 'off' } } },
    ]);
    // Applied in order, the pod may find either: not the last one's "off" alone.
    const dispatch = webhooks.dispatch('validate', createRequest(pod({ namespace: 'shop' })), twice);
    expect(dispatch.called.map((w) => w.name)).toEqual(['w.tollgate.dev']);
    expect(dispatch.notes).toEqual([expect.stringContaining('does not give its label "tollgate"')]);
    // A value kubectl cannot apply (not a string) is not known either.
    const numeric = new NamespaceLabels([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { tollgate: 1 } } } as unknown as KubernetesObject]);
    const optIn = configuration(`${POD_RULE}\nnamespaceSelector: {matchExpressions: [{key: tollgate, operator: NotIn, values: ["off"]}]}`);
    expect(optIn.dispatch('validate', createRequest(pod({ namespace: 'shop' })), numeric).notes).toHaveLength(1);
  });

  it('counts a Namespace only for the objects after it: before it is applied, the cluster’s namespace has its own labels', () => {
    const webhooks = configuration(`${POD_RULE}\nnamespaceSelector: {matchLabels: {tollgate: enforce}}`);
    const namespaces = new NamespaceLabels([pod({ namespace: 'shop' }), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { tollgate: 'off' } } }]);
    const before = webhooks.dispatch('validate', createRequest(pod({ namespace: 'shop' })), namespaces.at(0));
    expect(before.called.map((w) => w.name)).toEqual(['w.tollgate.dev']);
    expect(before.notes).toEqual([expect.stringContaining('namespace shop is not declared in the manifests checked')]);
    expect(called(webhooks, createRequest(pod({ namespace: 'shop' })), 'validate', namespaces.at(2))).toEqual([]);
  });

  it('never exempts a cluster-scoped object by namespaceSelector; a Namespace is judged by its own labels', () => {
    const webhooks = configuration(
      'rules: [{operations: [CREATE], apiGroups: ["*"], apiVersions: ["*"], resources: ["*"]}]\nnamespaceSelector: {matchLabels: {tollgate: enforce}}',
    );
    expect(called(webhooks, createRequest({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'r' } }))).toEqual(['w.tollgate.dev']);
    expect(called(webhooks, createRequest({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'n', labels: { tollgate: 'enforce' } } }))).toEqual(['w.tollgate.dev']);
    expect(called(webhooks, createRequest({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'n' } }))).toEqual([]);
  });

  it("matches the objectSelector on the object's labels, or the old object's on UPDATE", () => {
    const webhooks = configuration(`${POD_RULE}\nobjectSelector: {matchLabels: {app: web}}`);
    expect(called(webhooks, createRequest(pod({ labels: { app: 'web' } })))).toEqual(['w.tollgate.dev']);
    expect(called(webhooks, createRequest(pod({ labels: { app: 'db' } })))).toEqual([]);
    expect(called(webhooks, createRequest(pod({ labels: { app: 'db' } }), { operation: 'UPDATE', oldObject: pod({ labels: { app: 'web' } }) }))).toEqual(['w.tollgate.dev']);
  });
});

describe('matchConditions (CEL)', () => {
  it('sees `request` as the apiserver builds it: an empty name, namespace or subresource is left out, and reading it is an error', () => {
    // e2e (check-webhooks, unnamed): the apiserver refuses a generateName object under failurePolicy Fail.
    const unnamed = configuration(`${POD_RULE}\nmatchConditions:\n  - {name: unnamed, expression: "request.name == ''"}`, 'Mutating');
    expect(called(unnamed, createRequest(pod({ name: undefined, generateName: 'p-' })), 'mutate')).toEqual(expect.stringContaining('matchCondition unnamed'));
    expect(called(unnamed, createRequest(pod()), 'mutate')).toEqual([]);
    const present = configuration(`${POD_RULE}\nmatchConditions:\n  - {name: present, expression: "!has(request.name) && !has(request.subResource) && !has(request.requestSubResource) && has(request.namespace)"}`, 'Mutating');
    expect(called(present, createRequest(pod({ name: undefined, generateName: 'p-' })), 'mutate')).toEqual(['w.tollgate.dev']);
    // A Namespace being created is its own request.namespace.
    const namespaceRule = 'rules: [{operations: [CREATE], apiGroups: [""], apiVersions: [v1], resources: [namespaces]}]';
    const own = configuration(`${namespaceRule}\nmatchConditions:\n  - {name: own, expression: "request.namespace == 'lab'"}`);
    expect(called(own, createRequest({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'lab' } }))).toEqual(['w.tollgate.dev']);
    // Unless it is unnamed when the create handler sets it: the validating phase sees the generated
    // name, and still no namespace (AdmissionToValidateObjectFunc keeps the request's).
    const none = configuration(`${namespaceRule}\nmatchConditions:\n  - {name: none, expression: "!has(request.namespace)"}`);
    expect(called(none, createRequest({ apiVersion: 'v1', kind: 'Namespace', metadata: { generateName: 'lab-' } }))).toEqual(['w.tollgate.dev']);
  });

  it('sees the name the apiserver generates before the validating webhooks (a random suffix: unknown unless true)', () => {
    const request = createRequest(pod({ name: undefined, generateName: 'p-' }));
    // e2e (check-webhooks, generated-name): the validating webhook is called.
    const generated = configuration(`${POD_RULE}\nmatchConditions:\n  - {name: generated, expression: "request.name.startsWith('p-') && object.metadata.name == request.name"}`);
    expect(called(generated, request, 'validate')).toEqual(['w.tollgate.dev']);
    // The suffix is not known: a condition on the name that is false offline may be true in the cluster.
    const exact = configuration(`${POD_RULE}\nmatchConditions:\n  - {name: exact, expression: "request.name == 'p-abcde'"}`);
    const dispatch = exact.dispatch('validate', request, noNamespaces);
    expect(dispatch.called.map((w) => w.name)).toEqual(['w.tollgate.dev']);
    expect(dispatch.notes).toEqual([expect.stringContaining('generates from generateName')]);
    // The mutating webhooks see no name; a condition that does not read it is evaluated as usual.
    const exactMutating = configuration(`${POD_RULE}\nmatchConditions:\n  - {name: exact, expression: "has(request.name) && request.name == 'p-abcde'"}`, 'Mutating');
    expect(called(exactMutating, request, 'mutate')).toEqual([]);
    expect(called(configuration(`${POD_RULE}\nmatchConditions:\n  - {name: other, expression: "object.spec.containers.size() == 2"}`), request, 'validate')).toEqual([]);
  });

  it("skips the shipped mutating webhook for a mirror pod and calls it for others, as the shipped condition says", () => {
    const webhooks = WebhookConfigurations.fromDocuments(parseManifests(SHIPPED, 'webhooks.yaml'));
    const mirrorPod = createRequest(pod({ annotations: { 'kubernetes.io/config.mirror': 'abc' } }));
    expect(called(webhooks, mirrorPod, 'mutate')).toEqual([]);
    expect(called(webhooks, mirrorPod, 'validate')).toEqual(['validate.tollgate.dev']);
    expect(called(webhooks, createRequest(pod({ annotations: { other: 'x' } })), 'mutate')).toEqual(['mutate.tollgate.dev']);
    expect(called(webhooks, createRequest(pod()), 'mutate')).toEqual(['mutate.tollgate.dev']);
  });

  it('reads whole numbers as int, as the apiserver does, and the request variable', () => {
    const webhooks = configuration(`${POD_RULE}\nmatchConditions:\n  - {name: replicas, expression: "object.spec.replicas == 3 && request.operation == 'CREATE'"}`);
    expect(called(webhooks, createRequest({ ...pod(), spec: { replicas: 3 } }))).toEqual(['w.tollgate.dev']);
    expect(called(webhooks, createRequest({ ...pod(), spec: { replicas: 2 } }))).toEqual([]);
  });

  it('skips the webhook when any condition is false, even if another errs', () => {
    const webhooks = configuration(`${POD_RULE}\nmatchConditions:\n  - {name: errs, expression: "object.metadata.labels.app == 'x'"}\n  - {name: never, expression: "false"}`);
    expect(called(webhooks, createRequest(pod()))).toEqual([]);
  });

  it('rejects the request when a condition errs under failurePolicy Fail, and calls the webhook with a note under Ignore', () => {
    const condition = `matchConditions:\n  - {name: needs-labels, expression: "object.metadata.labels.app == 'x'"}`;
    const failing = configuration(`${POD_RULE}\n${condition}`);
    expect(called(failing, createRequest(pod()))).toBe(
      'webhook w.tollgate.dev: matchCondition needs-labels: No such key: labels: under failurePolicy Fail the apiserver rejects a request whose matchConditions cannot be evaluated',
    );
    const ignoring = configuration(`${POD_RULE}\nfailurePolicy: Ignore\n${condition}`);
    const dispatch = ignoring.dispatch('validate', createRequest(pod()), noNamespaces);
    expect(dispatch.called.map((w) => w.name)).toEqual(['w.tollgate.dev']);
    expect(dispatch.notes[0]).toContain('taken to be called');
    // The authorizer needs the cluster: an error too, never a silent skip.
    const authorizer = configuration(`${POD_RULE}\nmatchConditions:\n  - {name: authz, expression: "authorizer.group('').resource('pods').check('create').allowed()"}`);
    expect(called(authorizer, createRequest(pod()))).toContain('matchCondition authz');
  });
});

describe('matchConditions whose offline value is not the apiserver’s', () => {
  const configMapRule = 'rules: [{operations: [CREATE], apiGroups: [""], apiVersions: [v1], resources: [configmaps]}]';
  const configMap = (extra: Record<string, unknown> = {}): KubernetesObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'shop' }, ...extra });
  const withCondition = (expression: string, failurePolicy = 'Fail') =>
    configuration(`${configMapRule}\nfailurePolicy: ${failurePolicy}\nmatchConditions:\n  - name: c\n    expression: ${JSON.stringify(expression)}`);

  it.each([
    // The user who applies is the pipeline's, not tollgate:check (e2e: the apiserver calls it for kubectl's admin).
    ["request.userInfo.groups.exists(g, g == 'system:masters')"],
    ["request.userInfo.username.startsWith('system:serviceaccount:ci:')"],
    // kubectl apply is no dry run, though check judges as one (e2e: called on a real create).
    ['!request.dryRun'],
    ["!has(request.options.dryRun)"],
    ["request['userInfo'].username == 'x'"],
  ])('%s: the user and dryRun are not known offline: taken to be called, with a note, under Fail or Ignore', (expression) => {
    for (const policy of ['Fail', 'Ignore']) {
      const dispatch = withCondition(expression, policy).dispatch('validate', createRequest(configMap(), { dryRun: true }), noNamespaces);
      expect(dispatch.rejected).toBeUndefined();
      expect(dispatch.called.map((w) => w.name)).toEqual(['w.tollgate.dev']);
      expect(dispatch.notes).toEqual([expect.stringContaining('matchCondition c reads what the request carries beyond the manifest')]);
    }
  });

  it('reads the request fields a manifest decides as before', () => {
    expect(called(withCondition("request.namespace == 'other' && request.kind.kind == 'ConfigMap'"), createRequest(configMap()))).toEqual([]);
    expect(called(withCondition("request.resource.resource == 'configmaps' && request.operation == 'CREATE'"), createRequest(configMap()))).toEqual(['w.tollgate.dev']);
  });

  it('sees a __proto__ key as the apiserver does, as a key (e2e: the apiserver calls the webhook, which answers 400)', () => {
    const poisoned = JSON.parse('{"__proto__": "x"}') as Record<string, string>;
    expect(called(withCondition('size(object.data) > 0'), createRequest(configMap({ data: poisoned })))).toEqual(['w.tollgate.dev']);
    expect(called(withCondition("'__proto__' in object.data"), createRequest(configMap({ data: poisoned })))).toEqual(['w.tollgate.dev']);
    const nested = JSON.parse('{"__proto__": {"team": "x"}}') as Record<string, unknown>;
    expect(called(withCondition('!has(object.data.team)'), createRequest(configMap({ data: nested })))).toEqual(['w.tollgate.dev']);
  });

  it('takes a condition with matches() that is not true to be called, with a note: RE2 is not JavaScript’s RegExp (e2e: \\p{L})', () => {
    const letters = withCondition("object.data.word.matches('^\\\\p{L}+$')");
    const dispatch = letters.dispatch('validate', createRequest(configMap({ data: { word: 'é' } })), noNamespaces);
    expect(dispatch.called.map((w) => w.name)).toEqual(['w.tollgate.dev']);
    expect(dispatch.notes).toEqual([expect.stringContaining('uses matches()')]);
    // True offline: called, nothing to say.
    const ascii = withCondition("object.data.word.matches('^[a-z]+$')").dispatch('validate', createRequest(configMap({ data: { word: 'abc' } })), noNamespaces);
    expect([ascii.called.length, ascii.notes]).toEqual([1, []]);
  });

  it('takes a condition on string positions that is not true to be called, with a note (UTF-16 units here, code points in cel-go)', () => {
    const dispatch = withCondition("object.data.word.indexOf('a') == 1").dispatch('validate', createRequest(configMap({ data: { word: '😀a' } })), noNamespaces);
    expect(dispatch.called.map((w) => w.name)).toEqual(['w.tollgate.dev']);
    expect(dispatch.notes).toEqual([expect.stringContaining('string positions')]);
  });

  it('still skips the webhook when a condition it can read is false', () => {
    const webhooks = configuration(`${configMapRule}\nmatchConditions:\n  - {name: user, expression: "!request.dryRun"}\n  - {name: never, expression: "false"}`);
    expect(called(webhooks, createRequest(configMap()))).toEqual([]);
  });
});

describe('matchPolicy Equivalent across groups', () => {
  it('calls a webhook on events.k8s.io events for a core Event, with a note (e2e: the apiserver does)', () => {
    const webhooks = configuration('rules: [{operations: [CREATE], apiGroups: [events.k8s.io], apiVersions: [v1], resources: [events]}]');
    const event = createRequest({ apiVersion: 'v1', kind: 'Event', metadata: { name: 'e', namespace: 'shop' } });
    const dispatch = webhooks.dispatch('validate', event, noNamespaces);
    expect(dispatch.called.map((w) => w.name)).toEqual(['w.tollgate.dev']);
    expect(dispatch.notes).toEqual([expect.stringContaining('only through its equivalent in group events.k8s.io')]);
    // And the other way round; not under Exact.
    const core = configuration('rules: [{operations: [CREATE], apiGroups: [""], apiVersions: [v1], resources: [events]}]');
    expect(called(core, createRequest({ apiVersion: 'events.k8s.io/v1', kind: 'Event', metadata: { name: 'e', namespace: 'shop' } }))).toEqual(['w.tollgate.dev']);
    const exact = configuration('rules: [{operations: [CREATE], apiGroups: [events.k8s.io], apiVersions: [v1], resources: [events]}]\nmatchPolicy: Exact');
    expect(called(exact, event)).toEqual([]);
  });
});

describe('custom kinds', () => {
  const chaosRule = 'rules: [{operations: [CREATE], apiGroups: [chaos-mesh.org], apiVersions: ["*"], resources: [podchaos]}]';
  const podChaos = 'apiVersion: chaos-mesh.org/v1alpha1\nkind: PodChaos\nmetadata: {name: c, namespace: lab}\n';
  const definition =
    'apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: podchaos.chaos-mesh.org}\nspec: {group: chaos-mesh.org, scope: Namespaced, names: {kind: PodChaos, plural: podchaos}}\n';
  const engine = new PolicyEngine([validating('no-chaos', (r) => (r.kind.kind === 'PodChaos' ? { allowed: false, violations: [{ message: 'no chaos' }] } : { allowed: true }))]);
  const check = async (rule: string, text: string) =>
    (await checkManifests(engine, parseManifests(text, 'm.yaml'), { webhooks: configuration(rule) })).results.filter((r) => r.admission.request.kind.kind === 'PodChaos')[0]!;

  it('matches a custom kind by the plural its CustomResourceDefinition in the manifests gives', async () => {
    const defined = await check(chaosRule, `${definition}---\n${podChaos}`);
    expect([defined.admission.request.resource.resource, defined.webhooks?.validate, defined.admission.allowed, defined.notes]).toEqual(['podchaos', ['w.tollgate.dev'], false, []]);
    const otherResource = await check(chaosRule.replace('[podchaos]', '[networkchaos]'), `${definition}---\n${podChaos}`);
    expect([otherResource.webhooks?.validate, otherResource.admission.allowed]).toEqual([[], true]);
  });

  it('takes a webhook on its group to be called, with a note, when no definition gives the kind’s plural and scope', async () => {
    // Guessed "podchaoses": the rule's "podchaos" may well be its resource.
    const guessed = await check(chaosRule, podChaos);
    expect([guessed.admission.request.resource.resource, guessed.webhooks?.validate, guessed.admission.allowed]).toEqual(['podchaoses', ['w.tollgate.dev'], false]);
    expect(guessed.notes).toEqual([expect.stringContaining('chaos-mesh.org/PodChaos is not built in and no CustomResourceDefinition among the manifests defines it')]);
    // Guessed namespaced: a namespaceSelector that exempts its namespace may not apply (a cluster-scoped kind is never exempted).
    const exempting = await check(`${chaosRule.replace('[podchaos]', '["*"]')}\nnamespaceSelector: {matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [lab]}]}`, podChaos);
    expect([exempting.webhooks?.validate, exempting.admission.allowed, exempting.notes.length]).toEqual([['w.tollgate.dev'], false, 1]);
    // Through another version of it (matchPolicy Equivalent), and a condition on the guessed resource or namespace.
    const otherVersion = await check(chaosRule.replace('["*"]', '[v1]'), podChaos);
    expect([otherVersion.webhooks?.validate, otherVersion.admission.allowed]).toEqual([['w.tollgate.dev'], false]);
    for (const expression of ["request.resource.resource == 'podchaos'", '!has(request.namespace)']) {
      const onGuess = await check(`${chaosRule}\nmatchConditions:\n  - {name: guess, expression: "${expression}"}`, podChaos);
      expect([onGuess.webhooks?.validate, onGuess.admission.allowed], expression).toEqual([['w.tollgate.dev'], false]);
    }
    // Another group is another group.
    const elsewhere = await check(chaosRule.replace('[chaos-mesh.org]', '[example.com]'), podChaos);
    expect([elsewhere.webhooks?.validate, elsewhere.admission.allowed, elsewhere.notes]).toEqual([[], true, []]);
  });
});

describe('reading webhook configurations', () => {
  const refused = (text: string) => {
    try {
      WebhookConfigurations.fromDocuments(parseManifests(text, 'webhooks.yaml'));
    } catch (err) {
      return (err as Error).message;
    }
    return 'read';
  };
  const head = 'apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata: {name: t}\nwebhooks:\n  - name: w\n';

  it.each([
    ['an unknown operation', `${head}    clientConfig: {url: "https://x/validate"}\n    rules: [{operations: [PATCH]}]\n`, 'webhooks.yaml#1: webhooks[0].rules[0].operations[0] must be one of'],
    ['a selector operator', `${head}    clientConfig: {url: "https://x/validate"}\n    objectSelector: {matchExpressions: [{key: a, operator: Has}]}\n`, 'webhooks.yaml#1: webhooks[0].objectSelector.matchExpressions[0].operator must be one of'],
    ['a path that is not tollgate’s', `${head}    clientConfig: {service: {name: s, namespace: n, path: /admit}}\n`, "webhooks.yaml#1: webhooks[0].clientConfig.service.path must call tollgate's /validate"],
    ['/mutate from a validating configuration', `${head}    clientConfig: {url: "https://x/mutate"}\n`, "webhooks[0].clientConfig.url must call tollgate's /validate"],
    ['a CEL syntax error', `${head}    clientConfig: {url: "https://x/validate"}\n    matchConditions: [{name: c, expression: "object.("}]\n`, 'webhooks.yaml#1: webhooks[0].matchConditions[0].expression: '],
    ['no webhook configuration', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n', 'no MutatingWebhookConfiguration or ValidatingWebhookConfiguration'],
  ])('refuses %s, naming the field', (_what, text, message) => {
    expect(refused(text)).toContain(message);
  });

  it('reads the shipped configurations, and other objects beside them are passed over', () => {
    const webhooks = WebhookConfigurations.fromDocuments(parseManifests(`apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\n${SHIPPED}`, 'all.yaml'));
    expect(webhooks.webhooks.map((w) => [w.name, w.endpoint, w.failurePolicy])).toEqual([
      ['mutate.tollgate.dev', 'mutate', 'Ignore'],
      ['validate.tollgate.dev', 'validate', 'Fail'],
    ]);
  });
});

describe('checkManifests with webhook configurations', () => {
  const webhooks = WebhookConfigurations.fromDocuments(parseManifests(SHIPPED, 'webhooks.yaml'));
  const documents = (text: string) => parseManifests(text, 'm.yaml');
  const denyEvil = validating('no-evil', (r) => (JSON.stringify(r.object).includes('evil') ? { allowed: false, violations: [{ message: 'evil' }] } : { allowed: true }));
  const labelIt = mutating('label-it', (r) => {
    const metadata = (r.object as KubernetesObject).metadata as { labels?: Record<string, string> };
    metadata.labels = { ...metadata.labels, checked: 'yes' };
  });

  it('does not judge what no webhook sends, and judges the rest as before', async () => {
    const engine = new PolicyEngine([labelIt, denyEvil]);
    const text = [
      'apiVersion: v1\nkind: Pod\nmetadata: {name: sys, namespace: kube-system}\nspec: {containers: [{name: a, image: evil.io/x}]}',
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: evil}',
      'apiVersion: v1\nkind: Pod\nmetadata: {name: app, namespace: shop}\nspec: {containers: [{name: a, image: evil.io/x}]}',
    ].join('\n---\n');
    const report = await checkManifests(engine, documents(text), { webhooks });
    expect(report.results.map((r) => [r.admission.request.name, r.admission.allowed, r.webhooks, r.admission.patch.length])).toEqual([
      ['sys', true, { mutate: [], validate: [] }, 0],
      ['evil', true, { mutate: [], validate: [] }, 0],
      // Mutated, then denied: the patch is reported with the denial.
      ['app', false, { mutate: ['mutate.tollgate.dev'], validate: ['validate.tollgate.dev'] }, 1],
    ]);
    // Without them, all three are judged.
    const everything = await checkManifests(engine, documents(text));
    expect(everything.results.map((r) => r.admission.allowed)).toEqual([false, false, false]);
    expect(everything.results.every((r) => r.webhooks === undefined)).toBe(true);
  });

  it("decides the validating phase on the object as mutated: an objectSelector on a label the mutating chain adds", async () => {
    const engine = new PolicyEngine([labelIt, denyEvil]);
    const both = WebhookConfigurations.fromDocuments(
      parseManifests(
        [
          `apiVersion: admissionregistration.k8s.io/v1\nkind: MutatingWebhookConfiguration\nmetadata: {name: m}\nwebhooks:\n  - name: m\n    clientConfig: {url: "https://t/mutate"}\n    ${POD_RULE}`,
          `apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata: {name: v}\nwebhooks:\n  - name: v\n    clientConfig: {url: "https://t/validate"}\n    ${POD_RULE}\n    objectSelector: {matchLabels: {checked: "yes"}}`,
        ].join('\n---\n'),
        'w.yaml',
      ),
    );
    const evilPod = 'apiVersion: v1\nkind: Pod\nmetadata: {name: app, namespace: shop}\nspec: {containers: [{name: a, image: evil.io/x}]}';
    const report = await checkManifests(engine, documents(evilPod), { webhooks: both });
    expect(report.results[0]?.webhooks).toEqual({ mutate: ['m'], validate: ['v'] });
    expect(report.results[0]?.admission.allowed).toBe(false);
    // With no mutating webhook, the label is never added and the validating one is not called.
    const validatingOnly = WebhookConfigurations.fromDocuments(parseManifests(SHIPPED.split('---')[1]!.replace('validate.tollgate.dev', 'v').replace(/namespaceSelector:[\s\S]*?\n {4}rules:/, `objectSelector: {matchLabels: {checked: "yes"}}\n    rules:`), 'v.yaml'));
    const unlabelled = await checkManifests(engine, documents(evilPod), { webhooks: validatingOnly });
    expect(unlabelled.results[0]?.webhooks).toEqual({ mutate: [], validate: [] });
    expect(unlabelled.results[0]?.admission.allowed).toBe(true);
  });

  it("follows a poisoned key to each called webhook's failurePolicy: the mutating one (Ignore) is skipped, the validating one (Fail) rejects", async () => {
    const engine = new PolicyEngine([labelIt, denyEvil]);
    const poisoned = '{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "shop"}, "spec": {"containers": [{"name": "a", "image": "nginx"}], "x": {"__proto__": {}}}}';
    const [shipped] = (await checkManifests(engine, documents(poisoned), { webhooks })).results;
    expect(shipped?.admission.allowed).toBe(false);
    expect(shipped?.admission.violations[0]?.message).toContain('HTTP 400');
    const mutatingOnly = WebhookConfigurations.fromDocuments(parseManifests(SHIPPED.split('---')[0]!, 'm.yaml'));
    const [skipped] = (await checkManifests(engine, documents(poisoned), { webhooks: mutatingOnly })).results;
    expect(skipped?.admission.allowed).toBe(true);
    expect(skipped?.admission.patch).toEqual([]);
  });

  it('judges the object without the mutation too when the mutating webhook is only taken to be called: its change may be what lets it pass', async () => {
    const fixIt = mutating('fix-it', (r) => {
      const spec = (r.object as { spec: { containers: Array<{ image: string }> } }).spec;
      for (const c of spec.containers) c.image = 'nginx';
    });
    const engine = new PolicyEngine([fixIt, denyEvil]);
    const both = WebhookConfigurations.fromDocuments(
      parseManifests(
        [
          `apiVersion: admissionregistration.k8s.io/v1\nkind: MutatingWebhookConfiguration\nmetadata: {name: m}\nwebhooks:\n  - name: m\n    clientConfig: {url: "https://t/mutate"}\n    ${POD_RULE}\n    namespaceSelector: {matchLabels: {inject: "yes"}}`,
          `apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata: {name: v}\nwebhooks:\n  - name: v\n    clientConfig: {url: "https://t/validate"}\n    ${POD_RULE}`,
        ].join('\n---\n'),
        'w.yaml',
      ),
    );
    const evilPod = 'apiVersion: v1\nkind: Pod\nmetadata: {name: app, namespace: shop}\nspec: {containers: [{name: a, image: evil.io/x}]}';
    // The namespace's "inject" label is not known: the cluster may not mutate, and then denies.
    const [unknown] = (await checkManifests(engine, documents(evilPod), { webhooks: both })).results;
    expect(unknown?.admission.allowed).toBe(false);
    expect(unknown?.webhooks).toEqual({ mutate: [], validate: ['v'] });
    expect(unknown?.notes.at(-1)).toContain('denied as if m were not called');
    // Known to carry it: mutated, then allowed.
    const declared = `apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {inject: "yes"}}\n---\n${evilPod}`;
    const [, known] = (await checkManifests(engine, documents(declared), { webhooks: both })).results;
    expect([known?.admission.allowed, known?.webhooks, known?.notes]).toEqual([true, { mutate: ['m'], validate: ['v'] }, []]);
  });

  it('judges the pod of a workload no webhook sends, as its controller creates it', async () => {
    const engine = new PolicyEngine([denyEvil]);
    const only = WebhookConfigurations.fromDocuments(parseManifests(SHIPPED.split('---')[1]!.replace(/resources: \[deployments, replicasets, statefulsets, daemonsets\]/, 'resources: [replicasets]'), 'v.yaml'));
    const deployment =
      'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: shop}\nspec:\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec: {containers: [{name: a, image: evil.io/x}]}';
    const report = await checkManifests(engine, documents(deployment), { webhooks: only });
    expect(report.results.map((r) => [r.admission.request.kind.kind, r.podOf?.kind, r.admission.allowed])).toEqual([
      ['Deployment', undefined, true],
      ['Pod', 'Deployment', false],
    ]);
  });
});
