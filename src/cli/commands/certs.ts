// `tollgate certs`: a CA and a serving certificate for the webhook's Service, written to a directory
// and, on request, into the manifests' caBundle, the cluster's Secrets and the live webhook configurations.
import { isIP } from 'node:net';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { ErrorCodes, TollgateError } from '../../errors.js';
import { DEFAULT_CA_DAYS, DEFAULT_SERVING_DAYS, bootstrapCertificates, readCertificateDirectory, writeCertificateDirectory, type CertMaterial } from '../../tls/bootstrap.js';
import { inspectCertificate } from '../../tls/certificates.js';
import type { CertificateSecrets } from '../../tls/cluster.js';
import { setCaBundleInManifests } from '../../tls/webhook-manifests.js';
import { ExitCodes, type CliIO } from '../io.js';

export const DEFAULT_SERVICE = 'tollgate';
export const DEFAULT_NAMESPACE = 'tollgate-system';
export const DEFAULT_OUT_DIR = path.join('certs', 'tollgate');
export const DEFAULT_SECRET = 'tollgate-tls';
export const DEFAULT_WEBHOOK_CONFIGURATION = 'tollgate';
const MAX_DAYS = 36_500;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_NAME = /^(\*\.)?[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/;

function parseDnsLabel(value: string): string {
  if (!DNS_LABEL.test(value)) throw new InvalidArgumentError('must be a DNS label (lower-case letters, digits and -, at most 63)');
  return value;
}

function parseDays(value: string): number {
  const days = Number(value);
  if (!Number.isInteger(days) || days < 1 || days > MAX_DAYS) throw new InvalidArgumentError(`must be a whole number of days (1-${MAX_DAYS})`);
  return days;
}

function collectDnsName(value: string, previous: string[]): string[] {
  if (value.length > 253 || !DNS_NAME.test(value)) throw new InvalidArgumentError('must be a DNS name (lower case), optionally starting with *.');
  return [...previous, value];
}

function collectIp(value: string, previous: string[]): string[] {
  if (isIP(value) === 0) throw new InvalidArgumentError('must be an IPv4 or IPv6 address');
  return [...previous, value];
}

interface CertsFlags {
  service: string;
  namespace: string;
  out: string;
  days: number;
  caDays: number;
  dns: string[];
  ip: string[];
  force?: boolean;
  pruneBundle?: boolean;
  manifests?: string;
  kubeconfig?: string;
  context?: string;
  inCluster?: boolean;
  secret: string;
  caSecret?: string;
  patchWebhooks?: boolean;
  webhookConfiguration: string;
}

function day(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/**
 * Seeds an empty directory from the cluster's Secrets, so that a Job with a fresh emptyDir reuses the
 * CA the cluster already trusts. Two different CAs, one here and one there, are not reconciled by guessing.
 */
async function seedFromCluster(dir: string, local: CertMaterial, cluster: CertMaterial, secrets: CertificateSecrets): Promise<'seeded' | 'local' | 'none'> {
  if (cluster.caCert === undefined) return local.caCert === undefined ? 'none' : 'local';
  if (local.caCert === undefined && local.caKey === undefined) {
    await writeCertificateDirectory(dir, cluster);
    return 'seeded';
  }
  const here = local.caCert === undefined ? undefined : inspectCertificate(local.caCert).fingerprint256;
  if (here !== inspectCertificate(cluster.caCert).fingerprint256) {
    throw new TollgateError(
      ErrorCodes.TG_ERR_TLS,
      `the CA in ${path.join(dir, 'ca.crt')} is not the one in secret ${secrets.namespace}/${secrets.caSecret}; use an empty --out directory to adopt the cluster's CA, or delete the Secrets to push this one`,
    );
  }
  return 'local';
}

export function certsCommand(io: CliIO, setExitCode: (code: number) => void): Command {
  return new Command('certs')
    .description("make (or renew) the webhook's CA and serving certificate; optionally set caBundle in manifests or in a cluster")
    .option('--service <name>', 'the Service kube-apiserver calls', parseDnsLabel, DEFAULT_SERVICE)
    .option('--namespace <namespace>', "the Service's namespace", parseDnsLabel, DEFAULT_NAMESPACE)
    .option('--out <dir>', 'where ca.crt, ca.key, ca-bundle.crt, tls.crt and tls.key are kept', DEFAULT_OUT_DIR)
    .option('--days <days>', 'validity of the serving certificate', parseDays, DEFAULT_SERVING_DAYS)
    .option('--ca-days <days>', 'validity of a new CA', parseDays, DEFAULT_CA_DAYS)
    .option('--dns <name>', 'an extra DNS name for the serving certificate (repeatable)', collectDnsName, [])
    .option('--ip <address>', 'an extra IP address for the serving certificate (repeatable)', collectIp, [])
    .option('--force', 'replace a valid CA and serving certificate; the old CA stays in the bundle while it is valid')
    .option('--prune-bundle', 'keep only the current CA in ca-bundle.crt (once every replica serves the new certificate)')
    .option('--manifests <path>', 'set caBundle in every webhook configuration of the YAML files under this directory (or in this file)')
    .option('--kubeconfig <file>', 'work on the cluster of this kubeconfig: create or update the Secrets')
    .option('--context <name>', 'work on the cluster of this kubeconfig context (default kubeconfig when --kubeconfig is not given)')
    .option('--in-cluster', "work on the cluster this pod runs in, with its service account (as a Job)")
    .option('--secret <name>', 'the kubernetes.io/tls Secret the webhook pods mount', parseDnsLabel, DEFAULT_SECRET)
    .option('--ca-secret <name>', 'the Secret that keeps the CA and its key (default: <secret>-ca)', parseDnsLabel)
    .option('--patch-webhooks', 'also set caBundle in the live webhook configurations')
    .option('--webhook-configuration <name>', 'name of the Mutating- and ValidatingWebhookConfiguration to patch', DEFAULT_WEBHOOK_CONFIGURATION)
    .action(async (flags: CertsFlags) => {
      const out = (line: string) => io.stdout.write(`${line}\n`);
      const cluster = flags.kubeconfig !== undefined || flags.context !== undefined || flags.inCluster === true;
      if (!cluster && flags.patchWebhooks) {
        throw new TollgateError(ErrorCodes.TG_ERR_USAGE, '--patch-webhooks needs a cluster: --kubeconfig FILE, --context NAME or --in-cluster');
      }
      if (flags.inCluster && (flags.kubeconfig !== undefined || flags.context !== undefined)) {
        throw new TollgateError(ErrorCodes.TG_ERR_USAGE, '--in-cluster goes without --kubeconfig and --context');
      }
      const secrets: CertificateSecrets = { namespace: flags.namespace, secret: flags.secret, caSecret: flags.caSecret ?? `${flags.secret}-ca` };
      // Loaded only when a cluster is named: @kubernetes/client-node costs every `serve` ~60 MB of RSS otherwise.
      const { loadKubeConfig, patchWebhookCaBundles, readClusterCertificates, writeClusterCertificates } = await import('../../tls/cluster.js');
      const kc = cluster
        ? loadKubeConfig({
            ...(flags.kubeconfig !== undefined ? { kubeconfig: flags.kubeconfig } : {}),
            ...(flags.context !== undefined ? { context: flags.context } : {}),
            ...(flags.inCluster ? { inCluster: true } : {}),
          })
        : undefined;
      if (kc) {
        const seeded = await seedFromCluster(flags.out, await readCertificateDirectory(flags.out), await readClusterCertificates(kc, secrets), secrets);
        if (seeded === 'seeded') out(`cluster: read the CA and certificate from secrets ${secrets.namespace}/${secrets.caSecret} and ${secrets.namespace}/${secrets.secret}`);
      }

      const result = await bootstrapCertificates({
        service: flags.service,
        namespace: flags.namespace,
        outDir: flags.out,
        days: flags.days,
        caDays: flags.caDays,
        dnsNames: flags.dns,
        ipAddresses: flags.ip,
        force: flags.force === true,
        pruneBundle: flags.pruneBundle === true,
      });
      const { ca, serving } = result;
      out(`CA: ${ca.action}, ${result.files.caCert} (${ca.info.subject.replace(/\n/g, ', ')}; expires ${day(ca.info.notAfter)})`);
      if (ca.renewalDue) io.stderr.write(`warning: the CA expires on ${day(ca.info.notAfter)}; rotate it with --force (old and new CA are then both trusted until you --prune-bundle)\n`);
      out(`serving certificate: ${serving.action} (${serving.reason}), ${result.files.cert}`);
      out(`  names: ${[...serving.info.dnsNames, ...serving.info.ipAddresses].join(', ')}; expires ${day(serving.info.notAfter)}`);
      out(`caBundle: ${result.trustedCAs.length} CA${result.trustedCAs.length === 1 ? '' : 's'} in ${result.files.caBundle}`);

      if (flags.manifests !== undefined) {
        const edited = await setCaBundleInManifests(flags.manifests, result.caBundleBase64);
        const webhooks = edited.reduce((sum, file) => sum + file.webhooks, 0);
        if (webhooks === 0) throw new TollgateError(ErrorCodes.TG_ERR_MANIFEST_READ, `no webhook configuration with webhooks found under ${flags.manifests}`);
        for (const file of edited) out(`manifests: caBundle ${file.changed ? 'set' : 'already set'} in ${file.webhooks} webhook(s) of ${file.configurations.join(', ')} (${file.file})`);
      }

      if (kc) {
        const material = await readCertificateDirectory(flags.out);
        const written = await writeClusterCertificates(kc, secrets, {
          caCert: material.caCert ?? '',
          caKey: material.caKey ?? '',
          caBundle: material.caBundle ?? '',
          cert: material.cert ?? '',
          key: material.key ?? '',
        });
        out(`cluster: secret ${secrets.namespace}/${secrets.secret} ${written.secret}, secret ${secrets.namespace}/${secrets.caSecret} ${written.caSecret}`);
        if (flags.patchWebhooks) {
          for (const patched of await patchWebhookCaBundles(kc, flags.webhookConfiguration, result.caBundleBase64)) {
            out(`cluster: caBundle ${patched.action} in ${patched.webhooks} webhook(s) of ${patched.kind} ${patched.name}`);
          }
        }
      }
      setExitCode(ExitCodes.ok);
    });
}
