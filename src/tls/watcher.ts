// Keeps the serving certificate current without a restart. The directories of the certificate and key
// are watched, not the files: a Secret volume renews them by swapping a `..data` symlink, which a watch
// on the file itself never sees. A slow poll backs the watch up. A pair is taken only when the
// certificate parses and the key is its key; until then the pair in force stays, and the reason is logged.
import { X509Certificate, createHash, createPrivateKey } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createSecureContext } from 'node:tls';
import { describeError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { inspectCertificate, type CertificateInfo } from './certificates.js';

/** The backstop poll: a missed event is picked up within this long. */
export const CERTIFICATE_POLL_INTERVAL_MS = 30_000;
/** Events come in bursts (a file per write, several for a symlink swap); one reload follows the burst. */
export const CERTIFICATE_DEBOUNCE_MS = 100;
/** After a pair is refused, look once more this soon: the other half of the pair is usually on its way. */
export const CERTIFICATE_RETRY_MS = 1_000;

export interface ServingCertificate extends CertificateInfo {
  cert: string;
  key: string;
  loadedAt: Date;
}

export interface CertificateWatcherOptions {
  certFile: string;
  keyFile: string;
  logger: Logger;
  pollIntervalMs?: number;
  debounceMs?: number;
  retryMs?: number;
}

export type ReloadResult = 'loaded' | 'unchanged' | 'refused';

/** Why a pair cannot be served, or undefined when it can. */
export function servingPairProblem(cert: string, key: string): string | undefined {
  try {
    const x509 = new X509Certificate(cert);
    if (!x509.checkPrivateKey(createPrivateKey(key))) return 'the key does not belong to the certificate';
    // What the TLS server will do with it: a chain or key format Node cannot use fails here, not at the next handshake.
    createSecureContext({ cert, key });
    return undefined;
  } catch (err) {
    return describeError(err);
  }
}

export class CertificateWatcher {
  private currentPair: ServingCertificate | undefined;
  private readonly listeners: Array<(certificate: ServingCertificate) => void> = [];
  private readonly watchers = new Map<string, FSWatcher>();
  private pollTimer: NodeJS.Timeout | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private running: Promise<ReloadResult> | undefined;
  private again = false;
  private lastRefusal = '';
  private closed = false;

  constructor(private readonly options: CertificateWatcherOptions) {}

  /** The pair in force (undefined until a valid one was loaded); `current.notAfter` is its expiry. */
  get current(): ServingCertificate | undefined {
    return this.currentPair;
  }

  /** Called with every newly loaded pair, the first one included. */
  onChange(listener: (certificate: ServingCertificate) => void): void {
    this.listeners.push(listener);
  }

  /** Loads the pair once and starts watching; resolves with the pair, or undefined when none is valid yet. */
  async start(): Promise<ServingCertificate | undefined> {
    await this.reload();
    this.watchDirectories();
    this.pollTimer = setInterval(() => {
      this.watchDirectories();
      void this.reload();
    }, this.options.pollIntervalMs ?? CERTIFICATE_POLL_INTERVAL_MS);
    this.pollTimer.unref();
    return this.currentPair;
  }

  close(): void {
    this.closed = true;
    for (const watcher of this.watchers.values()) watcher.close();
    this.watchers.clear();
    clearInterval(this.pollTimer);
    clearTimeout(this.debounceTimer);
    clearTimeout(this.retryTimer);
  }

  /** Reads the files now; concurrent calls share one read, and a call during a read causes one more. */
  reload(): Promise<ReloadResult> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.load().finally(() => {
      this.running = undefined;
      if (this.again && !this.closed) {
        this.again = false;
        void this.reload();
      }
    });
    return this.running;
  }

  private watchDirectories(): void {
    if (this.closed) return;
    const dirs = new Set([path.dirname(path.resolve(this.options.certFile)), path.dirname(path.resolve(this.options.keyFile))]);
    for (const dir of dirs) {
      if (this.watchers.has(dir)) continue;
      try {
        const watcher = watch(dir, { persistent: false }, () => this.scheduleReload(this.options.debounceMs ?? CERTIFICATE_DEBOUNCE_MS));
        watcher.on('error', (err) => {
          // The directory went away (or the watch broke); the poll brings the watch back when it can.
          this.options.logger.warn({ dir, err: describeError(err) }, 'certificate directory watch stopped; polling');
          watcher.close();
          this.watchers.delete(dir);
        });
        this.watchers.set(dir, watcher);
      } catch (err) {
        this.options.logger.warn({ dir, err: describeError(err) }, 'cannot watch the certificate directory; polling');
      }
    }
  }

  private scheduleReload(delayMs: number): void {
    if (this.closed) return;
    clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => void this.reload(), delayMs);
    this.debounceTimer.unref();
  }

  private async load(): Promise<ReloadResult> {
    const { certFile, keyFile, logger } = this.options;
    let cert: string;
    let key: string;
    try {
      [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
    } catch (err) {
      return this.refuse(`cannot read ${certFile} or ${keyFile}: ${describeError(err)}`);
    }
    if (this.currentPair && cert === this.currentPair.cert && key === this.currentPair.key) return 'unchanged';
    const problem = servingPairProblem(cert, key);
    if (problem !== undefined) {
      const fingerprint = createHash('sha256').update(cert).update('\0').update(key).digest('hex');
      return this.refuse(`${certFile} and ${keyFile} cannot be served: ${problem}`, fingerprint);
    }
    const info = inspectCertificate(cert);
    this.currentPair = { ...info, cert, key, loadedAt: new Date() };
    this.lastRefusal = '';
    clearTimeout(this.retryTimer);
    const expired = info.notAfter.getTime() <= Date.now();
    logger[expired ? 'warn' : 'info'](
      { serialNumber: info.serialNumber, notAfter: info.notAfter.toISOString(), dnsNames: info.dnsNames, certFile },
      expired ? 'serving certificate loaded, but it has expired' : 'serving certificate loaded',
    );
    for (const listener of this.listeners) {
      try {
        listener(this.currentPair);
      } catch (err) {
        logger.error({ err: describeError(err) }, 'certificate change listener failed');
      }
    }
    return 'loaded';
  }

  private refuse(reason: string, contents = reason): ReloadResult {
    // One line per distinct bad pair, not one per poll.
    if (contents !== this.lastRefusal) {
      this.lastRefusal = contents;
      this.options.logger.error(
        { reason, serving: this.currentPair ? this.currentPair.serialNumber : 'nothing' },
        this.currentPair ? 'new serving certificate refused; keeping the current one' : 'no valid serving certificate yet',
      );
      if (!this.closed) {
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => void this.reload(), this.options.retryMs ?? CERTIFICATE_RETRY_MS);
        this.retryTimer.unref();
      }
    }
    return 'refused';
  }
}
