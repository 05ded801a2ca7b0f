// The e2e harness: a real kube-apiserver and etcd on loopback, and processes that never outlive the run.
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
