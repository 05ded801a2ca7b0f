// Reloads the config when its file changes (a ConfigMap update): the new config is validated and
// its policies created before anything changes; then `EngineRef.current` is swapped in one
// assignment. A bad config is refused, logged and counted, and the old engine keeps serving.
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { createEngine } from '../engine/create.js';
import { TollgateError, describeError } from '../errors.js';
import type { EngineRef } from '../http/server.js';
import type { Logger } from '../log/logger.js';
import type { ReloadResult } from '../metrics/metrics.js';
import { readConfigFile } from './load.js';

/**
 * The backstop poll. A ConfigMap volume swaps a `..data` symlink, which a watch on the directory
 * sees; the poll catches what a watch can miss (some volume types, an overlay, a lost event).
 */
export const CONFIG_POLL_INTERVAL_MS = 10_000;
/** Changes closer together than this are one reload (an editor or the kubelet writes in steps). */
export const CONFIG_DEBOUNCE_MS = 200;

export interface ConfigWatchOptions {
  file: string;
  engine: EngineRef;
  logger: Logger;
  pollIntervalMs?: number;
  debounceMs?: number;
  /** Watch the directory for changes (default true); without it only the poll notices them. */
  watchDirectory?: boolean;
  /** Called after every reload attempt that read the file (metrics). */
  onReload?: (result: ReloadResult) => void;
}

export interface ConfigWatcher {
  /** Reloads now, unless a reload is running (then once more after it); resolves with the result. */
  reload(): Promise<ReloadResult>;
  close(): void;
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * Starts watching `file`. The config the engine was built from is taken to be the file's content
 * now: the first change seen is the first reload.
 */
export async function watchConfig(options: ConfigWatchOptions): Promise<ConfigWatcher> {
  const { engine, logger, onReload } = options;
  const file = path.resolve(options.file);
  const pollIntervalMs = options.pollIntervalMs ?? CONFIG_POLL_INTERVAL_MS;
  const debounceMs = options.debounceMs ?? CONFIG_DEBOUNCE_MS;

  let loadedDigest = await readFile(file, 'utf8').then(digest, () => '');
  let lastStat = await stat(file).then((s) => `${s.ino}:${s.size}:${s.mtimeMs}`, () => '');
  let running: Promise<ReloadResult> | undefined;
  let again = false;
  let closed = false;

  async function reloadOnce(): Promise<ReloadResult> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      // Between the kubelet's two renames the file can be briefly absent; the next event or poll retries.
      logger.warn({ config: file, err: describeError(err) }, 'config reload: cannot read the file; keeping the current config');
      onReload?.('failure');
      return 'failure';
    }
    const textDigest = digest(text);
    if (textDigest === loadedDigest) {
      onReload?.('unchanged');
      return 'unchanged';
    }
    try {
      const source = await readConfigFile(file);
      const next = await createEngine(source, logger);
      if (closed) return 'unchanged';
      engine.current = next;
      loadedDigest = textDigest;
      logger.info(
        { config: file, mutating: next.mutating.map((p) => p.name), validating: next.validating.map((p) => p.name) },
        'config reloaded',
      );
      onReload?.('success');
      return 'success';
    } catch (err) {
      // Remembered, so that the same bad content is refused once, not at every poll.
      loadedDigest = textDigest;
      logger.error(
        { config: file, ...(err instanceof TollgateError ? { code: err.code } : {}), err: describeError(err) },
        'config reload refused; the previous config keeps serving',
      );
      onReload?.('failure');
      return 'failure';
    }
  }

  function reload(): Promise<ReloadResult> {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      let result = await reloadOnce();
      while (again && !closed) {
        again = false;
        const next = await reloadOnce();
        if (next !== 'unchanged') result = next;
      }
      return result;
    })().finally(() => {
      running = undefined;
    });
    return running;
  }

  let debounce: NodeJS.Timeout | undefined;
  const schedule = () => {
    if (closed) return;
    clearTimeout(debounce);
    debounce = setTimeout(() => void reload(), debounceMs);
  };

  let watcher: FSWatcher | undefined;
  if (options.watchDirectory !== false) {
    try {
      // The directory, not the file: a watch on the file follows its old inode after an atomic swap.
      watcher = watch(path.dirname(file), { persistent: false }, () => schedule());
      watcher.on('error', (err) => {
        logger.warn({ config: file, err: describeError(err) }, 'config watch failed; relying on the poll');
        watcher?.close();
      });
    } catch (err) {
      logger.warn({ config: file, err: describeError(err) }, 'cannot watch the config directory; relying on the poll');
    }
  }

  const poll = setInterval(() => {
    stat(file).then(
      (s) => `${s.ino}:${s.size}:${s.mtimeMs}`,
      () => '',
    ).then((now) => {
      if (now !== lastStat) {
        lastStat = now;
        schedule();
      }
    }, () => undefined);
  }, pollIntervalMs);
  poll.unref();

  return {
    reload,
    close() {
      closed = true;
      clearTimeout(debounce);
      clearInterval(poll);
      watcher?.close();
    },
  };
}
