// Proves the harness: a real kube-apiserver stores what kubectl and client-node send it.
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type E2ECluster } from './harness/index.js';

function pod(name: string, namespace: string): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: { app: name } },
    spec: { containers: [{ name: 'app', image: 'registry.example/app:1.0' }] },
  };
}

describe('the e2e control plane', () => {
  let cluster: E2ECluster;

  beforeAll(async () => {
    cluster = await startCluster();
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('serves the built version and has the default namespace', async () => {
    const version = await cluster.kubectl(['version', '-o', 'json']);
    expect(JSON.parse(version.stdout).serverVersion.gitVersion).toMatch(/^v1\.\d+\.\d+$/);
    const namespaces = await cluster.kubectl(['get', 'namespaces', '-o', 'name']);
    expect(namespaces.stdout).toContain('namespace/default');
  });

  it('stores a namespace and a pod created with kubectl', async () => {
    await cluster.kubectl(['create', 'namespace', 'e2e-kubectl']);
    await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify(pod('web', 'e2e-kubectl')) });

    const read = await cluster.kubectl(['get', 'pod', 'web', '-n', 'e2e-kubectl', '-o', 'json']);
    const stored = JSON.parse(read.stdout) as V1Pod;
    expect(stored.metadata?.uid).toBeTruthy();
    expect(stored.spec?.containers[0]?.image).toBe('registry.example/app:1.0');
    // Nothing schedules it: the pod is stored, not run.
    expect(stored.status?.phase).toBe('Pending');
  });

  it('stores a namespace and a pod created with client-node', async () => {
    const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: 'e2e-client-node' } } });
    const created = await core.createNamespacedPod({
      namespace: 'e2e-client-node',
      body: pod('api', 'e2e-client-node'),
    });

    const read = await core.readNamespacedPod({ name: 'api', namespace: 'e2e-client-node' });
    expect(read.metadata?.uid).toBe(created.metadata?.uid);
    expect(read.metadata?.labels).toEqual({ app: 'api' });

    const viaKubectl = await cluster.kubectl(['get', 'pods', '-n', 'e2e-client-node', '-o', 'name']);
    expect(viaKubectl.stdout.trim()).toBe('pod/api');
  });
});
