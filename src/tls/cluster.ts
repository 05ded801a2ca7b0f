// `tollgate certs` against a cluster (kubeconfig or in-cluster, via @kubernetes/client-node): the
// certificates kept in two Secrets (the serving pair the pods mount, and the CA, which they do not),
// and the caBundle of the live webhook configurations, like the cert-gen Jobs ingress controllers ship.
import {
  AdmissionregistrationV1Api,
  ApiException,
  CoreV1Api,
  KubeConfig,
  type V1MutatingWebhookConfiguration,
  type V1Secret,
  type V1ValidatingWebhookConfiguration,
} from '@kubernetes/client-node';
import { ErrorCodes, TollgateError, describeError } from '../errors.js';
import type { CertFile, CertMaterial } from './bootstrap.js';

export interface ClusterTarget {
  /** A kubeconfig file; without it and without `inCluster`, the default loading rules (KUBECONFIG, ~/.kube/config). */
  kubeconfig?: string;
  context?: string;
  /** The pod's service account, as a Job runs it. */
  inCluster?: boolean;
}

export interface CertificateSecrets {
  namespace: string;
  /** `kubernetes.io/tls` Secret the webhook pods mount: tls.crt, tls.key, ca.crt. */
  secret: string;
  /** Opaque Secret holding the CA: ca.crt, ca.key, ca-bundle.crt. Never mounted by the webhook. */
  caSecret: string;
}

export type WriteAction = 'created' | 'updated' | 'unchanged';

const SECRET_KEYS: Record<'secret' | 'caSecret', Partial<Record<CertFile, string>>> = {
  secret: { cert: 'tls.crt', key: 'tls.key', caCert: 'ca.crt' },
  caSecret: { caCert: 'ca.crt', caKey: 'ca.key', caBundle: 'ca-bundle.crt' },
};
const MANAGED_BY_LABELS = { 'app.kubernetes.io/name': 'tollgate', 'app.kubernetes.io/managed-by': 'tollgate-certs' };
/** Optimistic-concurrency retries when someone else writes the same object between our read and write. */
const CONFLICT_RETRIES = 3;

export function loadKubeConfig(target: ClusterTarget): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (target.inCluster) kc.loadFromCluster();
    else if (target.kubeconfig) kc.loadFromFile(target.kubeconfig);
    else kc.loadFromDefault();
    if (target.context) kc.setCurrentContext(target.context);
  } catch (err) {
    throw new TollgateError(ErrorCodes.TG_ERR_CLUSTER, `cannot load the cluster credentials: ${describeError(err)}`, { cause: err });
  }
  if (!kc.getCurrentCluster()) throw new TollgateError(ErrorCodes.TG_ERR_CLUSTER, 'no cluster in the kubeconfig (or its current context)');
  return kc;
}

function statusOf(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}

/** The apiserver's own message (a Status body) when there is one. */
function describeApiError(err: unknown): string {
  if (err instanceof ApiException) {
    let body: unknown = err.body;
    if (typeof err.body === 'string') {
      const text: string = err.body;
      try {
        body = JSON.parse(text);
      } catch {
        return `HTTP ${err.code}: ${text.slice(0, 300)}`;
      }
    }
    // client-node's own message spans lines and carries the response headers; its `Message:` line is what matters.
    const message =
      typeof body === 'object' && body !== null && 'message' in body
        ? String((body as { message: unknown }).message)
        : (/^Message: (.*)$/m.exec(err.message)?.[1] ?? err.message.split('\n')[0]);
    return `HTTP ${err.code}: ${message}`;
  }
  return describeError(err);
}

function clusterError(action: string, err: unknown): TollgateError {
  return new TollgateError(ErrorCodes.TG_ERR_CLUSTER, `${action}: ${describeApiError(err)}`, { cause: err });
}

async function readSecret(core: CoreV1Api, namespace: string, name: string): Promise<V1Secret | undefined> {
  try {
    return await core.readNamespacedSecret({ name, namespace });
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw clusterError(`cannot read secret ${namespace}/${name}`, err);
  }
}

function decode(secret: V1Secret | undefined, key: string): string | undefined {
  const value = secret?.data?.[key];
  return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8');
}

/** The certificate files as the cluster keeps them; absent keys (or Secrets) are absent. */
export async function readClusterCertificates(kc: KubeConfig, names: CertificateSecrets): Promise<CertMaterial> {
  const core = kc.makeApiClient(CoreV1Api);
  const material: CertMaterial = {};
  for (const which of ['secret', 'caSecret'] as const) {
    const secret = await readSecret(core, names.namespace, names[which]);
    for (const [file, key] of Object.entries(SECRET_KEYS[which]) as Array<[CertFile, string]>) {
      const value = decode(secret, key);
      if (value !== undefined && material[file] === undefined) material[file] = value;
    }
  }
  return material;
}

async function upsertSecret(core: CoreV1Api, namespace: string, name: string, type: string, data: Record<string, string>): Promise<WriteAction> {
  const encoded = Object.fromEntries(Object.entries(data).map(([key, value]) => [key, Buffer.from(value).toString('base64')]));
  for (let attempt = 0; ; attempt++) {
    const existing = await readSecret(core, namespace, name);
    const resourceVersion = existing?.metadata?.resourceVersion;
    const body: V1Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace, labels: { ...existing?.metadata?.labels, ...MANAGED_BY_LABELS }, ...(resourceVersion ? { resourceVersion } : {}) },
      type,
      data: { ...existing?.data, ...encoded },
    };
    if (existing && Object.entries(encoded).every(([key, value]) => existing.data?.[key] === value)) return 'unchanged';
    try {
      if (existing) await core.replaceNamespacedSecret({ name, namespace, body });
      else await core.createNamespacedSecret({ namespace, body });
      return existing ? 'updated' : 'created';
    } catch (err) {
      if ((statusOf(err) === 409 || statusOf(err) === 404) && attempt < CONFLICT_RETRIES) continue;
      throw clusterError(`cannot ${existing ? 'update' : 'create'} secret ${namespace}/${name}`, err);
    }
  }
}

/** Creates or updates the two Secrets from the certificate files. */
export async function writeClusterCertificates(kc: KubeConfig, names: CertificateSecrets, material: Required<CertMaterial>): Promise<Record<'secret' | 'caSecret', WriteAction>> {
  const core = kc.makeApiClient(CoreV1Api);
  const pick = (which: 'secret' | 'caSecret') =>
    Object.fromEntries((Object.entries(SECRET_KEYS[which]) as Array<[CertFile, string]>).map(([file, key]) => [key, material[file]]));
  // The CA first: should the second write fail, a re-run still finds the CA that signed what is served.
  const caSecret = await upsertSecret(core, names.namespace, names.caSecret, 'Opaque', pick('caSecret'));
  const secret = await upsertSecret(core, names.namespace, names.secret, 'kubernetes.io/tls', pick('secret'));
  return { secret, caSecret };
}

type WebhookConfiguration = V1MutatingWebhookConfiguration | V1ValidatingWebhookConfiguration;

export interface WebhookPatchResult {
  kind: 'MutatingWebhookConfiguration' | 'ValidatingWebhookConfiguration';
  name: string;
  webhooks: number;
  action: 'updated' | 'unchanged';
}

/**
 * Sets caBundle on every webhook of the Mutating- and ValidatingWebhookConfiguration called `name`;
 * at least one of the two must exist.
 */
export async function patchWebhookCaBundles(kc: KubeConfig, name: string, caBundleBase64: string): Promise<WebhookPatchResult[]> {
  const api = kc.makeApiClient(AdmissionregistrationV1Api);
  const kinds: Array<{ kind: WebhookPatchResult['kind']; read(): Promise<WebhookConfiguration>; replace(body: WebhookConfiguration): Promise<unknown> }> = [
    {
      kind: 'MutatingWebhookConfiguration',
      read: () => api.readMutatingWebhookConfiguration({ name }),
      replace: (body) => api.replaceMutatingWebhookConfiguration({ name, body: body as V1MutatingWebhookConfiguration }),
    },
    {
      kind: 'ValidatingWebhookConfiguration',
      read: () => api.readValidatingWebhookConfiguration({ name }),
      replace: (body) => api.replaceValidatingWebhookConfiguration({ name, body: body as V1ValidatingWebhookConfiguration }),
    },
  ];
  const results: WebhookPatchResult[] = [];
  for (const { kind, read, replace } of kinds) {
    for (let attempt = 0; ; attempt++) {
      let configuration: WebhookConfiguration;
      try {
        configuration = await read();
      } catch (err) {
        if (statusOf(err) === 404) break;
        throw clusterError(`cannot read ${kind} ${name}`, err);
      }
      const webhooks = configuration.webhooks ?? [];
      if (webhooks.every((webhook) => webhook.clientConfig.caBundle === caBundleBase64)) {
        results.push({ kind, name, webhooks: webhooks.length, action: 'unchanged' });
        break;
      }
      for (const webhook of webhooks) webhook.clientConfig.caBundle = caBundleBase64;
      try {
        // The read's resourceVersion travels with the body: a concurrent change makes this a 409, and we read again.
        await replace(configuration);
        results.push({ kind, name, webhooks: webhooks.length, action: 'updated' });
        break;
      } catch (err) {
        if (statusOf(err) === 409 && attempt < CONFLICT_RETRIES) continue;
        throw clusterError(`cannot update ${kind} ${name}`, err);
      }
    }
  }
  if (results.length === 0) {
    throw new TollgateError(ErrorCodes.TG_ERR_CLUSTER, `neither a MutatingWebhookConfiguration nor a ValidatingWebhookConfiguration named ${name} exists (apply the manifests first)`);
  }
  return results;
}
