// Builds or finds the binaries once before any e2e file runs, outside any hook's timeout: the
// first build on a machine takes many minutes. A failure here fails the run with its message.
import { ensureBinaries } from './binaries.js';

export default async function setup(): Promise<void> {
  await ensureBinaries();
}
