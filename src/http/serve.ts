// Starts tollgate as a service: config and policies loaded (or the start refused), the serving
// certificate watched and renewed in place, the HTTPS server listening, and a graceful stop on SIGTERM.
import { readFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../config/load.js';
import { watchConfig, type ConfigWatcher } from '../config/reload.js';
import { createEngine } from '../engine/create.js';
import { ErrorCodes, TollgateError, describeError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { TollgateMetrics } from '../metrics/metrics.js';
import { requireClientCertificate } from '../tls/client-auth.js';
import { ensureDevCertificate } from '../tls/dev-certificate.js';
import { CertificateWatcher, type ServingCertificate } from '../tls/watcher.js';
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
/** kube-apiserver and the kubelet's probes speak TLS 1.3; 1.2 stays available for older clients on request. */
export const DEFAULT_TLS_MIN_VERSION = 'TLSv1.3';
export type TlsMinVersion = 'TLSv1.2' | 'TLSv1.3';

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
  /** CA of the client certificate the apiserver presents; review requests without one are refused. */
  clientCaFile?: string;
  /** Common names or DNS SANs allowed for that client certificate; empty allows any the CA signed. */
  clientNames?: readonly string[];
  tlsMinVersion?: TlsMinVersion;
  certificatePollIntervalMs?: number;
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
  /** The serving certificate in force (`certificate.current?.notAfter`), renewed from its files without a restart. */
  certificate: CertificateWatcher;
  /** Graceful stop: `/readyz` fails at once, reviews are served through the drain period, then close(). */
  shutdown(): Promise<void>;
  /** Stops at once: no drain. In-flight reviews are still answered. */
  close(): Promise<void>;
}

async function servingCertificateFiles(options: StartOptions): Promise<{ certFile: string; keyFile: string }> {
  if (options.certFile || options.keyFile) {
    if (!options.certFile || !options.keyFile) throw new TollgateError(ErrorCodes.TG_ERR_USAGE, '--cert and --key go together');
    return { certFile: options.certFile, keyFile: options.keyFile };
  }
  const dir = options.devCertDir ?? path.resolve('certs');
  const dev = await ensureDevCertificate(dir);
  options.logger.warn(
    { certFile: dev.certFile, created: dev.created },
    `no --cert/--key given: serving a self-signed development certificate for localhost (${dev.created ? 'made' : 'reused'}); not for production`,
  );
  return { certFile: dev.certFile, keyFile: dev.keyFile };
}

async function readClientCa(file: string): Promise<string> {
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (err) {
    throw new TollgateError(ErrorCodes.TG_ERR_TLS, `cannot read the client CA ${file}: ${describeError(err)}`, { cause: err });
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new TollgateError(ErrorCodes.TG_ERR_TLS, `${file} holds no PEM certificate`);
  return pem;
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
  const metrics = options.metrics ?? new TollgateMetrics({ processMetrics: true });
  const clientCa = options.clientCaFile ? await readClientCa(options.clientCaFile) : undefined;
  const minVersion = options.tlsMinVersion ?? DEFAULT_TLS_MIN_VERSION;
  const secureContextOf = (pair: ServingCertificate) => ({ cert: pair.cert, key: pair.key, minVersion, ...(clientCa ? { ca: clientCa } : {}) });
  // A missing or broken pair does not stop the start: /readyz stays 503 until a valid one appears.
  const certificate = new CertificateWatcher({
    ...(await servingCertificateFiles(options)),
    logger,
    ...(options.certificatePollIntervalMs !== undefined ? { pollIntervalMs: options.certificatePollIntervalMs } : {}),
  });
  // Set once the server exists; a pair loaded before then goes into its options instead.
  const https: { server?: HttpsServer } = {};
  certificate.onChange((pair) => {
    https.server?.setSecureContext(secureContextOf(pair));
    metrics.observeCertificateExpiry(pair.notAfter);
    readiness.clear('certificate');
  });
  const initial = await certificate.start();
  if (!initial) readiness.block('certificate', 'no valid serving certificate yet');
  const onReview = options.onReview;
  const app = await buildServer({
    engine,
    logger,
    readiness,
    https: {
      minVersion,
      ...(initial ? secureContextOf(initial) : {}),
      // Asked for, not insisted on: the kubelet's probes present no client certificate; the review routes check it.
      ...(clientCa ? { requestCert: true, rejectUnauthorized: false } : {}),
    },
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
  https.server = app.server as HttpsServer;
  // kube-apiserver's Go transport keeps spare connections it may never send a request on. Node's close()
  // passes over those (closeIdleConnections() only ends connections after a request) and stops the header
  // time-out that would end them, so close() would wait until the apiserver drops them (minutes).
  const unusedConnections = new Set<TLSSocket>();
  https.server.on('secureConnection', (socket: TLSSocket) => {
    unusedConnections.add(socket);
    socket.once('close', () => unusedConnections.delete(socket));
  });
  https.server.on('request', (request: IncomingMessage) => unusedConnections.delete(request.socket as TLSSocket));
  app.addHook('preClose', (done) => {
    for (const socket of unusedConnections) socket.destroy();
    done();
  });
  // A pair that arrived while the server was being built.
  if (certificate.current && certificate.current !== initial) https.server.setSecureContext(secureContextOf(certificate.current));
  if (clientCa) app.addHook('onRequest', requireClientCertificate(options.clientNames ?? []));
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
    certificate.close();
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
    certificate,
    async shutdown() {
      readiness.block(SHUTDOWN_CONDITION, 'shutting down');
      logger.info({ drainMs }, 'draining: /readyz fails, reviews are still served');
      await new Promise((resolve) => setTimeout(resolve, drainMs));
      await close();
    },
    close,
  };
}
