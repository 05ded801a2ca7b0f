// Starts tollgate as a service: config and policies loaded (or the start refused), TLS key
// material in place, the HTTPS server listening, and a graceful stop on SIGTERM.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../config/load.js';
import { watchConfig, type ConfigWatcher } from '../config/reload.js';
import { createEngine } from '../engine/create.js';
import { ErrorCodes, TollgateError, describeError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { TollgateMetrics } from '../metrics/metrics.js';
import { ensureDevCertificate } from '../tls/dev-certificate.js';
import { Readiness, SHUTDOWN_CONDITION } from './readiness.js';
import { buildServer, type EngineRef, type ServerOptions } from './server.js';

export const DEFAULT_PORT = 8443;
export const DEFAULT_HOST = '0.0.0.0';
/**
 * After SIGTERM, reviews keep being served this long before the server closes: the apiserver keeps
 * sending to a pod until the endpoints controller and every kube-proxy have seen it go (seconds).
 * Keep it below the pod's terminationGracePeriodSeconds (30 s by default).
 */
export const DEFAULT_DRAIN_MS = 10_000;

export interface StartOptions {
  configFile?: string;
  port?: number;
  host?: string;
  certFile?: string;
  keyFile?: string;
  /** Where the development certificate goes when no cert/key is given. */
  devCertDir?: string;
  logger: Logger;
  onReview?: ServerOptions['onReview'];
  /** How long `shutdown()` keeps serving before it closes; default DEFAULT_DRAIN_MS. */
  drainMs?: number;
  /** Reload the config file when it changes (default true when a file is given). */
  watchConfig?: boolean;
  configPollIntervalMs?: number;
  metrics?: TollgateMetrics;
  timeouts?: ServerOptions['timeouts'];
  maxInFlightReviews?: number;
}

export interface RunningServer {
  app: FastifyInstance;
  engine: EngineRef;
  readiness: Readiness;
  /** `https://host:port` as bound (port 0 resolved). */
  url: string;
  port: number;
  metrics: TollgateMetrics;
  /** Watching the config file for changes; absent with the embedded config. */
  configWatcher?: ConfigWatcher;
  /** Graceful stop: `/readyz` fails at once, reviews are served through the drain period, then close(). */
  shutdown(): Promise<void>;
  /** Stops at once: no drain. In-flight reviews are still answered. */
  close(): Promise<void>;
}

async function readKeyMaterial(options: StartOptions): Promise<{ cert: string; key: string }> {
  if (options.certFile || options.keyFile) {
    if (!options.certFile || !options.keyFile) throw new TollgateError(ErrorCodes.TG_ERR_USAGE, '--cert and --key go together');
    try {
      const [cert, key] = await Promise.all([readFile(options.certFile, 'utf8'), readFile(options.keyFile, 'utf8')]);
      return { cert, key };
    } catch (err) {
      throw new TollgateError(ErrorCodes.TG_ERR_TLS, `cannot read certificate or key: ${describeError(err)}`, { cause: err });
    }
  }
  const dir = options.devCertDir ?? path.resolve('certs');
  const dev = await ensureDevCertificate(dir);
  options.logger.warn(
    { certFile: dev.certFile, created: dev.created },
    `no --cert/--key given: serving a self-signed development certificate for localhost (${dev.created ? 'made' : 'reused'}); not for production`,
  );
  return dev;
}

export async function startServer(options: StartOptions): Promise<RunningServer> {
  const { logger } = options;
  const readiness = new Readiness();
  readiness.block('policies', 'not loaded');
  readiness.block('certificate', 'not loaded');
  const source = await loadConfig(options.configFile);
  const engine: EngineRef = { current: await createEngine(source, logger) };
  readiness.clear('policies');
  logger.info(
    { config: source.source, mutating: engine.current.mutating.map((p) => p.name), validating: engine.current.validating.map((p) => p.name) },
    'policies loaded',
  );
  const tls = await readKeyMaterial(options);
  const metrics = options.metrics ?? new TollgateMetrics({ processMetrics: true });
  metrics.observeCertificate(tls.cert);
  const onReview = options.onReview;
  const app = await buildServer({
    engine,
    logger,
    readiness,
    https: tls,
    metrics,
    onReview: onReview
      ? (event) => {
          metrics.observeReview(event);
          onReview(event);
        }
      : (event) => metrics.observeReview(event),
    ...(options.timeouts ? { timeouts: options.timeouts } : {}),
    ...(options.maxInFlightReviews !== undefined ? { maxInFlightReviews: options.maxInFlightReviews } : {}),
  });
  readiness.clear('certificate');
  await app.listen({ port: options.port ?? DEFAULT_PORT, host: options.host ?? DEFAULT_HOST });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : (options.port ?? DEFAULT_PORT);
  const host = options.host ?? DEFAULT_HOST;
  const url = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  logger.info({ url }, 'tollgate is serving');
  const configWatcher =
    options.configFile && options.watchConfig !== false
      ? await watchConfig({
          file: options.configFile,
          engine,
          logger,
          onReload: (result) => metrics.observeReload(result),
          ...(options.configPollIntervalMs !== undefined ? { pollIntervalMs: options.configPollIntervalMs } : {}),
        })
      : undefined;
  const drainMs = options.drainMs ?? DEFAULT_DRAIN_MS;
  let closing: Promise<void> | undefined;
  const close = () => {
    readiness.block(SHUTDOWN_CONDITION, 'shutting down');
    configWatcher?.close();
    closing ??= app.close();
    return closing;
  };
  return {
    app,
    engine,
    readiness,
    url,
    port,
    metrics,
    ...(configWatcher ? { configWatcher } : {}),
    async shutdown() {
      readiness.block(SHUTDOWN_CONDITION, 'shutting down');
      logger.info({ drainMs }, 'draining: /readyz fails, reviews are still served');
      await new Promise((resolve) => setTimeout(resolve, drainMs));
      await close();
    },
    close,
  };
}
