// The deployment manifests, read as plain data with `yaml` (as kubectl would send them), checked for
// what the webhook's availability and safety rest on, and tied to the code they deploy.
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_NAMESPACE, DEFAULT_SECRET, DEFAULT_SERVICE, DEFAULT_WEBHOOK_CONFIGURATION } from '../../src/cli/commands/certs.js';
import { DEFAULT_CONFIG_YAML } from '../../src/config/default-config.js';
import { parseConfig } from '../../src/config/load.js';
import { createEngine } from '../../src/engine/create.js';
import { DEFAULT_DRAIN_MS } from '../../src/http/serve.js';
import { buildServer } from '../../src/http/server.js';
import { createLogger } from '../../src/log/logger.js';

const DIR = fileURLToPath(new URL('../../manifests/', import.meta.url));

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are untyped data; each test says what it expects */
type Manifest = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [key: string]: any };

let files: string[];
let objects: Array<Manifest & { file: string }>;
const one = (kind: string) => {
  const found = objects.filter((o) => o.kind === kind);
  expect(found, `exactly one ${kind}`).toHaveLength(1);
  return found[0]!;
};

beforeAll(async () => {
  files = (await readdir(DIR)).filter((name) => /\.ya?ml$/.test(name) && name !== 'kustomization.yaml').sort();
  objects = [];
  for (const file of files) {
    for (const doc of parseAllDocuments(await readFile(path.join(DIR, file), 'utf8'))) {
      expect(doc.errors, file).toEqual([]);
      const object = doc.toJS() as Manifest | null;
      if (object) objects.push({ ...object, file });
    }
  }
});

const matches = (selector: Record<string, string>, labels: Record<string, string> | undefined) =>
  Object.entries(selector).every(([key, value]) => labels?.[key] === value);

describe('manifests/', () => {
  it('lists every manifest in kustomization.yaml, and every object is named, labelled and placed', async () => {
    const kustomization = parseAllDocuments(await readFile(path.join(DIR, 'kustomization.yaml'), 'utf8'))[0]!.toJS() as { resources: string[] };
    expect([...kustomization.resources].sort()).toEqual(files);
    const clusterScoped = new Set(['Namespace', 'PriorityClass', 'MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']);
    for (const object of objects) {
      expect(object.metadata.name, object.file).toMatch(/^[a-z0-9][-a-z0-9.]*$/);
      expect(object.metadata.labels?.['app.kubernetes.io/name'], object.file).toBe('tollgate');
      expect(object.metadata.namespace, `${object.kind} ${object.metadata.name}`).toBe(clusterScoped.has(object.kind) ? undefined : DEFAULT_NAMESPACE);
    }
  });

  it('runs the pods restricted: non-root by number, read-only root, no privilege escalation, no capabilities, no token', () => {
    const namespace = one('Namespace');
    expect(namespace.metadata.name).toBe(DEFAULT_NAMESPACE);
    expect(namespace.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    const pod = one('Deployment').spec.template.spec;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(one('ServiceAccount')).toMatchObject({ metadata: { name: pod.serviceAccountName }, automountServiceAccountToken: false });
    for (const container of pod.containers) {
      expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } });
      expect(container.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
      expect(container.resources.limits.memory).toEqual(expect.any(String));
    }
  });

  it('keeps the webhook available: replicas, surge-only rollouts, spread, priority, probes, a pause before SIGTERM', () => {
    const deployment = one('Deployment');
    const pod = deployment.spec.template.spec;
    expect(deployment.spec.replicas).toBeGreaterThanOrEqual(2);
    expect(deployment.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    expect(matches(deployment.spec.selector.matchLabels, deployment.spec.template.metadata.labels)).toBe(true);
    expect(pod.topologySpreadConstraints.map((c: any) => c.topologyKey)).toContain('kubernetes.io/hostname');
    for (const constraint of pod.topologySpreadConstraints) expect(matches(constraint.labelSelector.matchLabels, deployment.spec.template.metadata.labels)).toBe(true);
    expect(one('PriorityClass').metadata.name).toBe(pod.priorityClassName);
    expect(one('PriorityClass').value).toBeLessThan(1_000_000_000);

    const [container] = pod.containers;
    const port = container.ports.find((p: any) => p.name === 'https');
    expect(container.args).toContain(`--port=${port.containerPort}`);
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'https', scheme: 'HTTPS' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'https', scheme: 'HTTPS' });
    const pause = container.lifecycle.preStop.sleep.seconds;
    expect(pause).toBeGreaterThanOrEqual(5);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(pause + DEFAULT_DRAIN_MS / 1000);
  });

  it('never lets the disruption budget block a drain', () => {
    const budget = one('PodDisruptionBudget');
    expect(budget.spec.maxUnavailable).toBe(1);
    expect(budget.spec.minAvailable).toBeUndefined();
    expect(budget.spec.unhealthyPodEvictionPolicy).toBe('AlwaysAllow');
    expect(matches(budget.spec.selector.matchLabels, one('Deployment').spec.template.metadata.labels)).toBe(true);
  });

  it('runs `serve` with the mounted TLS Secret that `tollgate certs` writes, and the config ConfigMap', () => {
    const pod = one('Deployment').spec.template.spec;
    const [container] = pod.containers;
    expect(container.command).toEqual(['node', '/app/dist/src/cli/bin.js']);
    expect(container.args[0]).toBe('serve');
    const flag = (name: string) => container.args.find((a: string) => a.startsWith(`--${name}=`))?.split('=')[1];
    const mountOf = (volume: string) => container.volumeMounts.find((m: any) => m.name === volume);
    const tls = pod.volumes.find((v: any) => v.secret);
    expect(tls.secret.secretName).toBe(DEFAULT_SECRET);
    // Mounted as a directory: a subPath mount would never see the Secret's renewal.
    expect(mountOf(tls.name)).toMatchObject({ readOnly: true });
    expect(mountOf(tls.name).subPath).toBeUndefined();
    expect(flag('cert')).toBe(`${mountOf(tls.name).mountPath}/tls.crt`);
    expect(flag('key')).toBe(`${mountOf(tls.name).mountPath}/tls.key`);
    expect(tls.secret.defaultMode).toBe(0o440);

    const configVolume = pod.volumes.find((v: any) => v.configMap);
    expect(configVolume.configMap.name).toBe(one('ConfigMap').metadata.name);
    expect(mountOf(configVolume.name).subPath).toBeUndefined();
    expect(Object.keys(one('ConfigMap').data)).toEqual([path.basename(flag('config')!)]);
    expect(path.dirname(flag('config')!)).toBe(mountOf(configVolume.name).mountPath);
  });

  it('ships a ConfigMap that tollgate loads: valid config, built-in modules found', async () => {
    const text = one('ConfigMap').data['config.yaml'];
    const source = parseConfig(text, 'manifests/configmap.yaml', DIR);
    const engine = await createEngine(source, createLogger({ level: 'silent' }));
    expect(engine.mutating.map((p) => p.name)).toEqual(['annotation-injection']);
    expect(engine.validating.map((p) => p.name)).toEqual(['image-registry-allowlist']);
    // What a cluster deploys as shipped, and what runs with no --config (the image's default
    // command): no registry that any stranger can push to, whole.
    for (const config of [text, DEFAULT_CONFIG_YAML]) {
      const registries = (parseAllDocuments(config)[0]!.toJS() as { policies: Array<{ config?: { registries?: string[] } }> }).policies.flatMap((p) => p.config?.registries ?? []);
      expect(registries.length).toBeGreaterThan(0);
      for (const shared of ['docker.io', 'ghcr.io', 'quay.io', 'gcr.io', 'public.ecr.aws', 'registry.gitlab.com']) expect(registries).not.toContain(shared);
    }
  });

  it('exposes only a ClusterIP Service, and a NetworkPolicy admitting only the HTTPS port', () => {
    const service = one('Service');
    const pod = one('Deployment').spec.template;
    expect(service.metadata.name).toBe(DEFAULT_SERVICE);
    expect(service.spec.type).toBe('ClusterIP');
    expect(JSON.stringify(service)).not.toMatch(/nodePort|LoadBalancer|externalIPs/);
    expect(matches(service.spec.selector, pod.metadata.labels)).toBe(true);
    expect(pod.spec.containers[0].ports.map((p: any) => p.name)).toContain(service.spec.ports[0].targetPort);

    const policy = one('NetworkPolicy');
    expect(matches(policy.spec.podSelector.matchLabels, pod.metadata.labels)).toBe(true);
    expect(policy.spec.policyTypes).toEqual(['Ingress']);
    const containerPorts = pod.spec.containers[0].ports.map((p: any) => p.containerPort);
    for (const rule of policy.spec.ingress) {
      expect(rule.ports.length).toBeGreaterThan(0);
      for (const port of rule.ports) expect(containerPorts).toContain(port.port);
    }
  });

  describe('webhook configurations', () => {
    const webhooksOf = (kind: string) => {
      const configuration = one(kind);
      expect(configuration.metadata.name).toBe(DEFAULT_WEBHOOK_CONFIGURATION);
      return configuration.webhooks as any[];
    };

    it('call the tollgate Service on the paths the server serves, with the settings the issue lists', async () => {
      const service = one('Service');
      const app = await buildServer({ engine: { current: await createEngine(parseConfig('policies: []', 'x', DIR), createLogger({ level: 'silent' })) }, logger: createLogger({ level: 'silent' }) });
      for (const [kind, name, path, failurePolicy] of [
        ['MutatingWebhookConfiguration', 'mutate.tollgate.dev', '/mutate', 'Ignore'],
        ['ValidatingWebhookConfiguration', 'validate.tollgate.dev', '/validate', 'Fail'],
      ] as const) {
        const [webhook, ...others] = webhooksOf(kind);
        expect(others).toEqual([]);
        expect(webhook).toMatchObject({ name, admissionReviewVersions: ['v1'], sideEffects: 'None', matchPolicy: 'Equivalent', failurePolicy });
        expect(webhook.timeoutSeconds).toBeLessThanOrEqual(5);
        expect(webhook.clientConfig.service).toEqual({ name: service.metadata.name, namespace: service.metadata.namespace, path, port: service.spec.ports[0].port });
        const answer = await app.inject({ method: 'POST', url: path, payload: {} });
        expect(answer.statusCode, `${path} is served`).toBe(400);
      }
      await app.close();
      expect(webhooksOf('MutatingWebhookConfiguration')[0].reinvocationPolicy).toBe('IfNeeded');
    });

    it('keep out kube-system and tollgate-system by the name label the apiserver sets', () => {
      for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) {
        const { matchExpressions, matchLabels } = webhooksOf(kind)[0].namespaceSelector;
        expect(matchLabels).toBeUndefined();
        expect(matchExpressions).toEqual([{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: expect.arrayContaining(['kube-system', DEFAULT_NAMESPACE]) }]);
      }
    });

    const covered = (webhook: any) =>
      new Set(webhook.rules.flatMap((rule: any) => rule.apiGroups.flatMap((group: string) => rule.resources.flatMap((resource: string) => rule.operations.map((op: string) => `${group || 'core'}/${resource}:${op}`)))));

    it('match pods and every workload kind on CREATE and UPDATE; validation also the ephemeral containers subresource', () => {
      const workloads = ['core/pods', 'core/replicationcontrollers', 'apps/deployments', 'apps/replicasets', 'apps/statefulsets', 'apps/daemonsets', 'batch/jobs', 'batch/cronjobs'];
      for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) {
        const rules = covered(webhooksOf(kind)[0]);
        for (const resource of workloads) for (const op of ['CREATE', 'UPDATE']) expect(rules.has(`${resource}:${op}`), `${kind} ${resource} ${op}`).toBe(true);
        for (const rule of webhooksOf(kind)[0].rules) {
          expect(rule.scope).toBe('Namespaced');
          expect(rule.apiVersions).toEqual(['v1']);
          expect(rule.resources).not.toContain('*');
        }
      }
      expect(covered(webhooksOf('ValidatingWebhookConfiguration')[0]).has('core/pods/ephemeralcontainers:UPDATE')).toBe(true);
    });

    it('skip mirror pods in the mutating webhook with a CEL condition that copes with a null object', () => {
      const [condition] = webhooksOf('MutatingWebhookConfiguration')[0].matchConditions;
      expect(condition.expression).toContain("'kubernetes.io/config.mirror' in object.metadata.annotations");
      expect(condition.expression).toMatch(/^object == null \|\|/);
      expect(webhooksOf('ValidatingWebhookConfiguration')[0].matchConditions).toBeUndefined();
    });
  });

  it('ships a cert-gen Job whose RBAC grants exactly what `tollgate certs --in-cluster --patch-webhooks` touches', async () => {
    const certgen: Manifest[] = [];
    for (const file of ['rbac.yaml', 'job.yaml']) {
      for (const doc of parseAllDocuments(await readFile(path.join(DIR, 'certgen', file), 'utf8'))) certgen.push(doc.toJS() as Manifest);
    }
    const kustomization = parseAllDocuments(await readFile(path.join(DIR, 'certgen', 'kustomization.yaml'), 'utf8'))[0]!.toJS() as { resources: string[] };
    expect(kustomization.resources.sort()).toEqual(['job.yaml', 'rbac.yaml']);
    const of = (kind: string) => certgen.find((o) => o.kind === kind)!;
    const secretRules = of('Role').rules as any[];
    expect(secretRules).toEqual([
      { apiGroups: [''], resources: ['secrets'], resourceNames: [DEFAULT_SECRET, `${DEFAULT_SECRET}-ca`], verbs: ['get', 'update'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
    ]);
    expect(of('ClusterRole').rules).toEqual([
      { apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations'], resourceNames: [DEFAULT_WEBHOOK_CONFIGURATION], verbs: ['get', 'update'] },
    ]);
    for (const binding of [of('RoleBinding'), of('ClusterRoleBinding')]) {
      expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: of('ServiceAccount').metadata.name, namespace: DEFAULT_NAMESPACE }]);
    }
    const pod = of('Job').spec.template.spec;
    expect(pod.serviceAccountName).toBe(of('ServiceAccount').metadata.name);
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    const [container] = pod.containers;
    expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(container.args.slice(0, 3)).toEqual(['certs', '--in-cluster', '--patch-webhooks']);
  });

  it('builds with kustomize (kubectl kustomize), when kubectl is on the machine', async (context) => {
    const result = await new Promise<{ code: number | null; stdout: string; missing: boolean }>((resolve) => {
      execFile('kubectl', ['kustomize', DIR], { timeout: 15_000 }, (error, stdout) =>
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, missing: (error as NodeJS.ErrnoException | null)?.code === 'ENOENT' }),
      );
    });
    if (result.missing) context.skip();
    expect(result.code).toBe(0);
    const kinds = parseAllDocuments(result.stdout).map((doc) => (doc.toJS() as Manifest).kind);
    expect([...kinds].sort()).toEqual(objects.map((o) => o.kind).sort());
    // Cluster-wide objects the Deployment's pods need come before them.
    expect(kinds.indexOf('PriorityClass')).toBeLessThan(kinds.indexOf('Deployment'));
  });
});
