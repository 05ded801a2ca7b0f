// The project's own manifests/ against a real kube-apiserver: every object accepted and stored as
// written, without a warning, and the workloads' pods admissible under the `restricted` Pod Security
// Standard that tollgate-system enforces.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { manifestsDir, startCluster, type E2ECluster } from './harness/index.js';

interface ManifestObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: Record<string, unknown>;
}

const kustomizations = [manifestsDir, `${manifestsDir}/certgen`];

describe("the project's manifests/ on a real kube-apiserver", () => {
  let cluster: E2ECluster;

  beforeAll(async () => {
    cluster = await startCluster();
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  const build = async (dir: string): Promise<ManifestObject[]> => {
    const { stdout } = await cluster.kubectl(['kustomize', dir]);
    return parseAllDocuments(stdout).map((doc) => doc.toJS() as ManifestObject);
  };

  it.each(kustomizations)('`kubectl apply -k %s` creates every object, without a warning', async (dir) => {
    const objects = await build(dir);
    expect(objects.length).toBeGreaterThan(0);
    const applied = await cluster.kubectl(['apply', '-k', dir]);
    expect(applied.stderr).not.toMatch(/warning/i);
    const lines = applied.stdout.trim().split('\n');
    expect(lines).toHaveLength(objects.length);
    expect(lines.every((line) => line.endsWith(' created'))).toBe(true);

    for (const object of objects) {
      const got = await cluster.kubectl([
        'get',
        `${object.kind}.${object.apiVersion.includes('/') ? object.apiVersion.split('/')[0] : ''}`.replace(/\.$/, ''),
        object.metadata.name,
        ...(object.metadata.namespace ? ['-n', object.metadata.namespace] : []),
        '-o',
        'json',
      ]);
      const stored = JSON.parse(got.stdout) as ManifestObject;
      expect(stored.metadata.name).toBe(object.metadata.name);
      expect(stored.kind).toBe(object.kind);
    }

    // The apiserver stored what the files say: a server-side diff finds nothing. (A second client-side
    // `apply` still reports PriorityClass, PDB and webhooks as `configured`: it re-sends fields the
    // apiserver omits when empty, such as `globalDefault: false` and `caBundle: ""`.)
    const diff = await cluster.kubectl(['diff', '-k', dir], { allowFailure: true });
    expect(diff.stdout).toBe('');
    expect(diff.exitCode).toBe(0);
  });

  it('stores the webhook configurations with their rules, selectors and failure policies as shipped', async () => {
    await cluster.kubectl(['apply', '-k', manifestsDir]); // idempotent: this test may run alone
    const shipped = (await build(manifestsDir)).filter((o) => o.kind.endsWith('WebhookConfiguration'));
    expect(shipped.map((o) => o.kind).sort()).toEqual(['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']);
    for (const object of shipped) {
      const got = await cluster.kubectl(['get', object.kind.toLowerCase(), object.metadata.name, '-o', 'json']);
      const stored = JSON.parse(got.stdout) as { webhooks: Array<Record<string, unknown>> };
      const webhooks = (object as unknown as { webhooks: Array<Record<string, unknown>> }).webhooks;
      expect(stored.webhooks).toHaveLength(webhooks.length);
      for (const [i, webhook] of webhooks.entries()) {
        for (const field of ['name', 'rules', 'namespaceSelector', 'failurePolicy', 'timeoutSeconds', 'sideEffects', 'matchPolicy']) {
          expect(stored.webhooks[i]?.[field], `${object.kind} ${String(webhook['name'])} ${field}`).toEqual(webhook[field]);
        }
      }
    }
  });

  it("admits the Deployment's and the Job's pods under the restricted Pod Security Standard of tollgate-system", async () => {
    for (const dir of kustomizations) await cluster.kubectl(['apply', '-k', dir]);
    const workloads = [...(await build(manifestsDir)), ...(await build(`${manifestsDir}/certgen`))].filter(
      (o) => o.kind === 'Deployment' || o.kind === 'Job',
    );
    expect(workloads.map((o) => o.kind).sort()).toEqual(['Deployment', 'Job']);
    for (const workload of workloads) {
      const template = workload.spec!['template'] as { metadata?: Record<string, unknown>; spec: Record<string, unknown> };
      const pod = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { ...template.metadata, name: `${workload.metadata.name}-psa-check`, namespace: workload.metadata.namespace },
        spec: template.spec,
      };
      // The namespace is left out of both webhooks, and the ServiceAccounts exist: only Pod Security judges.
      const result = await cluster.kubectl(['create', '--dry-run=server', '-f', '-', '-o', 'name'], {
        input: JSON.stringify(pod),
        allowFailure: true,
      });
      expect(result.stderr, `${workload.kind} ${workload.metadata.name}`).toBe('');
      expect(result.exitCode).toBe(0);
    }

    // The check can fail: a root container in the same namespace is refused.
    const root = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'root', namespace: 'tollgate-system' },
      spec: { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }] },
    };
    const refused = await cluster.kubectl(['create', '--dry-run=server', '-f', '-'], { input: JSON.stringify(root), allowFailure: true });
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toContain('violates PodSecurity "restricted:latest"');
    // And "without a warning" above means something: a workload with that pod draws one.
    const rootDeployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'root', namespace: 'tollgate-system' },
      spec: { selector: { matchLabels: { app: 'root' } }, template: { metadata: { labels: { app: 'root' } }, spec: root.spec } },
    };
    const warned = await cluster.kubectl(['apply', '--dry-run=server', '-f', '-'], { input: JSON.stringify(rootDeployment) });
    expect(warned.stderr).toContain('Warning: would violate PodSecurity "restricted:latest"');
  });
});
