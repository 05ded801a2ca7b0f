// `tollgate serve` as a newcomer runs it: the built binary, no flags but a port, in a fresh directory.
import { closeSync, existsSync, openSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tollgateProcesses, waitFor } from '../helpers/cli.js';
import { httpsRequest } from '../helpers/https.js';
import { pod, reviewFor } from '../helpers/reviews.js';

const { spawn: spawnTollgate, tempDir } = tollgateProcesses('tollgate-serve-');

/** A port nothing listens on now: for a server whose stdout (where it says its port) is not readable. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
    probe.on('error', reject);
  });
}

describe('tollgate serve (built binary)', () => {
  it('serves the embedded default config with a development certificate it makes under certs/', async () => {
    const cwd = await tempDir();
    const run = spawnTollgate(['serve', '--port', '0', '--host', '127.0.0.1'], cwd);
    const url = await waitFor(() => /"url":"(https:\/\/[^"]+)"/.exec(run.output())?.[1], 15_000);
    const ca = await readFile(path.join(cwd, 'certs', 'dev-tls.crt'), 'utf8');
    const result = await httpsRequest(`${url}/validate`, ca, { method: 'POST', body: JSON.stringify(reviewFor(pod(['quay.io/x/y']))) });
    expect(JSON.parse(result.body).response.status.message).toContain('not from an allowed registry');
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
  });

  it('on SIGTERM during start-up exits 0 at once, with the lines logged so far written', async () => {
    const cwd = await tempDir();
    // A policy whose create() takes 20 s holds the start-up where a signal can land in it.
    await writeFile(
      path.join(cwd, 'slow.mjs'),
      "export default { name: 'slow', kind: 'validating', async create(_config, context) { context.logger.info('creating slowly'); await new Promise((r) => setTimeout(r, 20000)); return { validate: () => ({ allowed: true }) }; } };\n",
    );
    await writeFile(path.join(cwd, 'slow.yaml'), 'policies:\n  - module: ./slow.mjs\n');
    const run = spawnTollgate(['serve', '--config', 'slow.yaml', '--port', '0', '--host', '127.0.0.1'], cwd);
    const started = Date.now();
    // The policy's line is held in the batch (no tick has written it yet, or it has: either way it must come out).
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(15_000);
    const lines = run.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg: string; signal?: string });
    expect(lines.map((l) => l.msg)).toContain('creating slowly');
    expect(lines.some((l) => l.msg === 'shutting down' && l.signal === 'SIGTERM')).toBe(true);
  }, 30_000);

  it('serves, and ends on SIGTERM, with its stdout on a full disk (every log write refused with ENOSPC)', async () => {
    // With pino's own destination the first refused write crashed the process before it listened,
    // and the crash's exit then retried the write for ever: no server, deaf to SIGTERM.
    const cwd = await tempDir();
    const port = await freePort();
    const full = openSync('/dev/full', 'w');
    try {
      const run = spawnTollgate(['serve', '--port', String(port), '--host', '127.0.0.1'], cwd, { stdout: full });
      const certFile = path.join(cwd, 'certs', 'dev-tls.crt');
      await waitFor(() => (existsSync(certFile) ? true : undefined), 15_000);
      const ca = await readFile(certFile, 'utf8');
      const body = JSON.stringify(reviewFor(pod(['quay.io/x/y'])));
      let answer: { body: string } | undefined;
      for (const deadline = Date.now() + 15_000; answer === undefined && Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
        answer = await httpsRequest(`https://127.0.0.1:${port}/validate`, ca, { method: 'POST', body }).catch(() => undefined);
      }
      expect(JSON.parse(answer!.body).response.status.message).toContain('not from an allowed registry');
      // Said once on stderr, since the log cannot carry it.
      await waitFor(() => (run.output().includes('ENOSPC') ? true : undefined), 5_000);
      expect(run.output().match(/log lines could not be written to fd 1 \(ENOSPC/g)).toHaveLength(1);
      run.child.kill('SIGTERM');
      expect(await run.exited).toBe(0);
    } finally {
      closeSync(full);
    }
  }, 40_000);

  it('refuses a bad config at start, naming the file and the field, with exit code 2', async () => {
    const cwd = await tempDir();
    await writeFile(path.join(cwd, 'bad.yaml'), 'policies:\n  - module: image-registry-allowlist\n    config:\n      registries: ghcr.io\n');
    const run = spawnTollgate(['serve', '--config', 'bad.yaml', '--port', '0', '--host', '127.0.0.1'], cwd);
    expect(await run.exited).toBe(2);
    expect(run.output()).toContain('bad.yaml: policies[0].config.registries must be array');
  });

  it('refuses an unknown flag as a usage error', async () => {
    const run = spawnTollgate(['serve', '--prot', '1'], process.cwd());
    expect(await run.exited).toBe(2);
    expect(run.output()).toContain("unknown option '--prot'");
  });
});
