// Config reload on a ConfigMap-shaped volume (the kubelet swaps a `..data` symlink): a good change is
// swapped in atomically; a bad one is refused, logged, counted, and the old engine keeps serving.
import { mkdtemp, mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readConfigFile } from '../../src/config/load.js';
import { watchConfig, type ConfigWatcher } from '../../src/config/reload.js';
import { createEngine } from '../../src/engine/create.js';
import type { EngineRef } from '../../src/http/server.js';
import type { ReloadResult } from '../../src/metrics/metrics.js';
import { memoryLogger } from '../helpers/logs.js';
import { requestFor } from '../helpers/reviews.js';

const allowlist = (registries: string) => `policies:
  - module: image-registry-allowlist
    config:
      registries: ${registries}
`;

const podWith = (image: string) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image }] } });

async function allows(engine: EngineRef, image: string): Promise<boolean> {
  return (await engine.current.validate(requestFor(podWith(image)))).verdict.allowed;
}

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A directory laid out as the kubelet lays out a ConfigMap volume, and its update. */
class ConfigMapVolume {
  private generation = 0;
  constructor(readonly dir: string) {}

  get file(): string {
    return path.join(this.dir, 'config.yaml');
  }

  async init(text: string): Promise<void> {
    await this.write(text);
    await symlink('..data/config.yaml', this.file);
  }

  /** The kubelet's atomic update: a new timestamped dir, `..data_tmp` pointing at it, renamed over `..data`. */
  async write(text: string): Promise<void> {
    const generation = `..2026_01_01_00_00_0${++this.generation}`;
    await mkdir(path.join(this.dir, generation));
    await writeFile(path.join(this.dir, generation, 'config.yaml'), text);
    await symlink(generation, path.join(this.dir, '..data_tmp'));
    await rename(path.join(this.dir, '..data_tmp'), path.join(this.dir, '..data'));
  }
}

describe('config reload', () => {
  let dir: string;
  let volume: ConfigMapVolume;
  let watcher: ConfigWatcher | undefined;
  let logs: ReturnType<typeof memoryLogger>;
  let results: ReloadResult[];
  let engine: EngineRef;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'tollgate-reload-'));
    volume = new ConfigMapVolume(dir);
    await volume.init(allowlist('[docker.io/library]'));
    logs = memoryLogger();
    results = [];
    engine = { current: await createEngine(await readConfigFile(volume.file), logs.logger) };
  });
  afterEach(async () => {
    watcher?.close();
    watcher = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  const start = async (extra: { watchDirectory?: boolean; pollIntervalMs?: number } = {}) => {
    watcher = await watchConfig({
      file: volume.file,
      engine,
      logger: logs.logger,
      debounceMs: 20,
      pollIntervalMs: extra.pollIntervalMs ?? 60_000,
      onReload: (result) => results.push(result),
      ...(extra.watchDirectory !== undefined ? { watchDirectory: extra.watchDirectory } : {}),
    });
  };

  it('swaps in a changed config when the ConfigMap symlink is swapped (directory watch)', async () => {
    await start();
    const before = engine.current;
    expect(await allows(engine, 'nginx')).toBe(true);
    expect(await allows(engine, 'ghcr.io/acme/app')).toBe(false);

    await volume.write(allowlist('[ghcr.io/acme]'));
    await until(() => engine.current !== before);
    expect(results).toContain('success');
    expect(await allows(engine, 'ghcr.io/acme/app')).toBe(true);
    expect(await allows(engine, 'nginx')).toBe(false);
    expect(logs.lines().some((line) => line.msg === 'config reloaded')).toBe(true);
  });

  it('notices a change by polling alone when the directory is not watched', async () => {
    await start({ watchDirectory: false, pollIntervalMs: 50 });
    const before = engine.current;
    await volume.write(allowlist('[ghcr.io/acme]'));
    await until(() => engine.current !== before);
    expect(await allows(engine, 'ghcr.io/acme/app')).toBe(true);
  });

  it.each([
    ['YAML that does not parse', 'policies: [\n  - module: x\n', 'TG_ERR_CONFIG_PARSE'],
    ['a config that fails the schema', 'policies:\n  - modul: image-registry-allowlist\n', 'TG_ERR_CONFIG_INVALID'],
    ['a policy config that fails its schema', allowlist('registry.k8s.io'), 'TG_ERR_POLICY_CONFIG_INVALID'],
    ['a policy config its module refuses', allowlist('["https://ghcr.io"]'), 'TG_ERR_POLICY_CONFIG_INVALID'],
    ['a module that does not exist', 'policies:\n  - module: ./nowhere.js\n', 'TG_ERR_MODULE_NOT_FOUND'],
  ])('refuses %s, logs and counts it, and keeps the old engine serving', async (_what, text, code) => {
    await start();
    const before = engine.current;
    await volume.write(text);
    await until(() => results.includes('failure'));
    expect(engine.current).toBe(before);
    expect(await allows(engine, 'nginx')).toBe(true);
    const refused = logs.lines().find((line) => line.msg === 'config reload refused; the previous config keeps serving');
    expect(refused).toMatchObject({ level: 50, code, config: volume.file });

    // The same bad content is refused once, not again at every event; a good one is taken.
    await watcher!.reload();
    expect(results.filter((r) => r === 'failure')).toHaveLength(1);
    await volume.write(allowlist('[ghcr.io]'));
    await until(() => engine.current !== before);
    expect(await allows(engine, 'ghcr.io/x')).toBe(true);
  });

  it('does not rebuild the engine when the content did not change', async () => {
    await start();
    const before = engine.current;
    await volume.write(allowlist('[docker.io/library]'));
    await until(() => results.length > 0);
    expect(results.every((r) => r === 'unchanged')).toBe(true);
    expect(engine.current).toBe(before);
  });

  it('keeps the old config while the file is briefly missing, and counts it', async () => {
    await start();
    const before = engine.current;
    await rm(path.join(dir, '..data'));
    expect(await watcher!.reload()).toBe('failure');
    expect(engine.current).toBe(before);
    expect(logs.lines().some((line) => line.msg === 'config reload: cannot read the file; keeping the current config')).toBe(true);
  });

  it('runs one reload at a time: reviews see either the old engine or the new one, never a half-built one', async () => {
    await start();
    const seen = new Set<unknown>([engine.current]);
    await volume.write(allowlist('[ghcr.io]'));
    const concurrent = [watcher!.reload(), watcher!.reload(), watcher!.reload()];
    while (results.length === 0) {
      seen.add(engine.current);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(concurrent);
    seen.add(engine.current);
    expect(seen.size).toBe(2);
    expect(results.filter((r) => r === 'success')).toHaveLength(1);
  });
});
