// Finds (building once if needed) the kube-apiserver and etcd pinned in scripts/e2e/wrapper/go.mod,
// and the manifest oracle built from scripts/e2e/manifest-oracle.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const buildScript = fileURLToPath(
  new URL('../../../scripts/e2e/build-binaries.sh', import.meta.url),
);

export interface Binaries {
  /** The cache directory, `.../k8s-<ver>-etcd-<ver>`. */
  dir: string;
  etcd: string;
  kubeApiserver: string;
  /** kubectl's manifest decoding (see harness/manifest-oracle.ts). */
  manifestOracle: string;
}

let pending: Promise<Binaries> | undefined;

/**
 * Runs scripts/e2e/build-binaries.sh (instant when the binaries are cached; a 10-25 minute build
 * the first time on a machine) and returns their paths. Rejects with the script's own plain
 * message when they cannot be had, for instance when Go is missing.
 */
export function ensureBinaries(): Promise<Binaries> {
  pending ??= runBuildScript();
  return pending;
}

function runBuildScript(): Promise<Binaries> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [buildScript], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      process.stderr.write(chunk); // a first build is long; show that it is under way
    });
    child.once('error', (error) =>
      reject(new Error(`e2e: cannot run ${buildScript}: ${error.message}`, { cause: error })),
    );
    child.once('close', (code) => {
      const dir = stdout.trim().split('\n').pop() ?? '';
      if (code !== 0 || dir === '') {
        const reason = stderr.trim().split('\n').slice(-10).join('\n') || `exit code ${code}`;
        reject(
          new Error(
            `e2e: kube-apiserver, etcd and the manifest oracle are not available, so the e2e suite cannot run.\n${reason}`,
          ),
        );
        return;
      }
      resolve({
        dir,
        etcd: join(dir, 'bin', 'etcd'),
        kubeApiserver: join(dir, 'bin', 'kube-apiserver'),
        manifestOracle: join(dir, 'bin', 'manifest-oracle'),
      });
    });
  });
}
