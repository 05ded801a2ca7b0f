// The e2e harness: a real kube-apiserver and etcd on loopback, tollgate built and serving beside them,
// and processes that never outlive the run.
export { ensureBinaries, buildScript, type Binaries } from './binaries.js';
export {
  startCluster,
  freePort,
  loopback,
  type ClusterOptions,
  type E2ECluster,
  type KubectlResult,
} from './cluster.js';
export {
  createCertificateAuthority,
  generateKeyPair,
  type CertificateAuthority,
  type CertificateRequest,
  type IssuedCertificate,
  type KeyPair,
} from './pki.js';
export { startProcess, killAllNow, onExitCleanup, type ManagedProcess } from './processes.js';
export {
  bootstrapCertificates,
  startTollgate,
  readManifests,
  webhookConfigurationsFromManifests,
  kubectlApply,
  waitFor,
  sleep,
  servedFingerprint,
  establishedClientPorts,
  repoRoot,
  manifestsDir,
  tollgateBin,
  type RunningTollgate,
  type TollgateCertificates,
  type TollgateOptions,
  type WebhookConfiguration,
} from './tollgate.js';
export {
  scrapeApiserverMetrics,
  scrapeMetrics,
  parsePrometheusText,
  histogram,
  histogramDelta,
  describeBuckets,
  total,
  type Histogram,
  type Sample,
} from './metrics.js';
export { createSecretVolume, updateSecretVolume } from './secret-volume.js';
export {
  startManifestOracle,
  kubectlDecode,
  jsonStream,
  withKubectlNamespace,
  type KubectlDecoding,
  type ManifestOracle,
} from './manifest-oracle.js';
