import { defineConfig } from 'vitest/config';

// The e2e suite: a real kube-apiserver and etcd per file (see test/e2e/README.md).
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts'],
    globalSetup: ['test/e2e/harness/global-setup.ts'],
    // Each file starts its own control plane; two at once would only compete for 2 cores.
    fileParallelism: false,
    // Child processes, so a test worker's exit hooks (and the parent-death signal) reap the
    // processes a file started.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 180_000,
    teardownTimeout: 30_000,
  },
});
