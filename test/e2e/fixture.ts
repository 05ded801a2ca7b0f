// What the e2e files share: tollgate's test config, tollgate served from a Secret-volume-like
// directory with certificates from its own bootstrap, the webhooks of manifests/ registered for it,
// the objects the cases send, and probes that wait for the apiserver to act on a webhook change.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiException, CoreV1Api, type V1CronJob, type V1Deployment, type V1Pod } from '@kubernetes/client-node';
import {
  bootstrapCertificates,
  createSecretVolume,
  kubectlApply,
  startTollgate,
  waitFor,
  webhookConfigurationsFromManifests,
  type E2ECluster,
  type RunningTollgate,
  type TollgateCertificates,
  type WebhookConfiguration,
} from './harness/index.js';

export const admittedAnnotation = 'tollgate.dev/admitted';
export const allowedImage = 'registry.k8s.io/pause:3.10';
export const otherAllowedImage = 'docker.io/library/busybox:1.37';
export const deniedImage = 'evil.io/x/miner:1.0';
/** Namespaces whose name starts so are also judged by the warn-mode policy. */
export const warnNamespacePrefix = 'e2e-warn';

/**
 * Both built-ins, as in manifests/configmap.yaml, plus a second allowlist instance in `warn` mode that
 * asks for digests in the e2e-warn* namespaces only.
 */
export const e2eConfig = `
policies:
  - module: annotation-injection
    failurePolicy: Ignore
    timeoutMs: 500
    config:
      annotations:
        ${admittedAnnotation}: "true"
  - module: image-registry-allowlist
    failurePolicy: Fail
    timeoutMs: 500
    config:
      registries:
        - docker.io/library
        - registry.k8s.io
  - module: image-registry-allowlist
    name: digest-advice
    mode: warn
    match:
      namespaces: ["${warnNamespacePrefix}*"]
    config:
      registries:
        - docker.io/library
        - registry.k8s.io
      requireDigest: true
`;

/** The validating webhook's denial as a client sees it, up to tollgate's own message. */
export const deniedPrefix = 'admission webhook "validate.tollgate.dev" denied the request: [image-registry-allowlist]';

export interface ServedTollgate {
  tollgate: RunningTollgate;
  certs: TollgateCertificates;
  /** The Secret-volume-like directory tollgate serves tls.crt and tls.key from. */
  tlsDir: string;
  webhooks: WebhookConfiguration[];
}

/** Certificates by `tollgate certs`, the built server started, and the manifests' webhooks registered and in force. */
export async function serveTollgate(cluster: E2ECluster, probeNamespace: string): Promise<ServedTollgate> {
  const certs = await bootstrapCertificates(join(cluster.workDir, 'tollgate-certs'));
  const tlsDir = join(cluster.workDir, 'tollgate-tls');
  const volume = createSecretVolume(tlsDir, {
    'tls.crt': readFileSync(certs.certFile, 'utf8'),
    'tls.key': readFileSync(certs.keyFile, 'utf8'),
  });
  const tollgate = await startTollgate({
    workDir: cluster.workDir,
    config: e2eConfig,
    certFile: volume['tls.crt']!,
    keyFile: volume['tls.key']!,
  });
  try {
    const webhooks = webhookConfigurationsFromManifests(tollgate.url, certs.caBundle);
    await cluster.kubectl(['create', 'namespace', probeNamespace]);
    await kubectlApply(cluster, webhooks);
    await waitForVerdicts(cluster, probeNamespace);
    return { tollgate, certs, tlsDir, webhooks };
  } catch (error) {
    await tollgate.stop();
    throw error;
  }
}

export function pod(name: string, image: string, namespace?: string): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, ...(namespace ? { namespace } : {}), labels: { app: name } },
    spec: { containers: [{ name: 'app', image }] },
  };
}

/** A Deployment whose bad image hides in an init container of the template. */
export function deployment(name: string, initImage: string): V1Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          initContainers: [{ name: 'setup', image: initImage }],
          containers: [{ name: 'app', image: allowedImage }],
        },
      },
    },
  };
}

/** A CronJob whose bad image hides two templates down, in the job template's pod template. */
export function cronJob(name: string, image: string): V1CronJob {
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name },
    spec: {
      schedule: '*/5 * * * *',
      jobTemplate: {
        spec: {
          template: {
            spec: { restartPolicy: 'Never', containers: [{ name: 'report', image }] },
          },
        },
      },
    },
  };
}

/** The Status message of a refused client-node call. */
export function statusMessage(error: unknown): string {
  if (!(error instanceof ApiException)) throw error;
  const body: unknown = typeof error.body === 'string' ? JSON.parse(error.body) : error.body;
  return (body as { message?: string } | undefined)?.message ?? String(error.body);
}

export type Verdict = { allowed: true; pod: V1Pod } | { allowed: false; code: number; message: string };

/** What the apiserver answers to a server-side dry-run create of a pod (nothing is stored). */
export async function dryRunVerdict(cluster: E2ECluster, namespace: string, image: string): Promise<Verdict> {
  const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
  try {
    const stored = await core.createNamespacedPod({ namespace, body: pod(`probe-${Date.now()}`, image), dryRun: 'All' });
    return { allowed: true, pod: stored };
  } catch (error) {
    if (!(error instanceof ApiException)) throw error;
    return { allowed: false, code: error.code, message: statusMessage(error) };
  }
}

/** Waits until the apiserver calls tollgate: a bad image refused with its message, a good one mutated. */
export async function waitForVerdicts(cluster: E2ECluster, namespace: string): Promise<void> {
  await waitFor('the webhooks to be in force', async () => {
    const denied = await dryRunVerdict(cluster, namespace, deniedImage);
    const allowed = await dryRunVerdict(cluster, namespace, allowedImage);
    return (
      !denied.allowed &&
      denied.message.startsWith(deniedPrefix) &&
      allowed.allowed &&
      allowed.pod.metadata?.annotations?.[admittedAnnotation] === 'true'
    );
  });
}
