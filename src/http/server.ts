// The HTTP edge: a Fastify server with the two review endpoints and the health endpoints. Decoding
// and answering the review is the admission module's job; judging it is the engine's.
import fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { SecureContextOptions } from 'node:tls';
import { decodeAdmissionReview } from '../admission/review.js';
import { encodeAdmissionReview, responseFromVerdict } from '../admission/response.js';
import type { AdmissionApiVersion, AdmissionRequest } from '../admission/types.js';
import type { MutatingOptions, PolicyEngine, ReviewOutcome } from '../engine/engine.js';
import { ErrorCodes, TollgateError, describeError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { TollgateMetrics } from '../metrics/metrics.js';
import { afterAnswer } from './after-answer.js';
import { parseReviewBody } from './json-body.js';
import { Readiness, SHUTDOWN_CONDITION } from './readiness.js';
import { reviewLog } from './review-log.js';

/** Largest review body accepted: object and oldObject can each be a few MiB (etcd's limit is 1.5 MiB). */
export const MAX_REVIEW_BODY_BYTES = 16 * 1024 * 1024;
/** Longer than kube-apiserver's 90 s idle keep-alive, so the server never closes a connection the client is about to reuse. */
export const KEEP_ALIVE_TIMEOUT_MS = 120_000;
/** The apiserver waits 30 s at the most for a webhook; nothing a client sends may take longer. */
export const REQUEST_TIMEOUT_MS = 30_000;
/** A client has this long to send its headers. */
export const HEADERS_TIMEOUT_MS = 10_000;
/** How often Node checks the header and request time-outs (its default, 30 s, would let a slow client overstay them by that much). */
export const CONNECTIONS_CHECK_INTERVAL_MS = 1_000;
/**
 * Reviews in flight (headers received, answer not yet sent) beyond which a new one is answered 503
 * at once instead of queueing. Measured (SECURITY.md, "Overload"): at this depth ordinary pod
 * reviews are all answered within half a second, and reviews of 1 MiB objects within about 3 s.
 */
export const MAX_IN_FLIGHT_REVIEWS = 256;

/** The connection limits, all in milliseconds; tests pass small values to keep slow-client tests short. */
export interface ServerTimeouts {
  headersMs: number;
  requestMs: number;
  keepAliveMs: number;
  checkIntervalMs: number;
}

export type ReviewEndpoint = 'mutate' | 'validate';

/** The engine in force; swapping `current` swaps the policy chain for the next review. */
export interface EngineRef {
  current: PolicyEngine;
}

/** Emitted once per answered review, for metrics. */
export interface ReviewEvent {
  endpoint: ReviewEndpoint;
  request: AdmissionRequest;
  outcome: ReviewOutcome;
  durationMs: number;
}

export interface ServerOptions {
  engine: EngineRef;
  logger: Logger;
  readiness?: Readiness;
  /** TLS key material; without it the server speaks plain HTTP (tests through `inject` only). */
  https?: SecureContextOptions & { requestCert?: boolean; rejectUnauthorized?: boolean };
  bodyLimit?: number;
  onReview?: (event: ReviewEvent) => void;
  timeouts?: Partial<ServerTimeouts>;
  /** Defaults to MAX_IN_FLIGHT_REVIEWS. */
  maxInFlightReviews?: number;
  /** Serves `GET /metrics` and counts reviews refused for overload. */
  metrics?: TollgateMetrics;
}

/** The answer carries the patch alone: the patched object is not needed (engine.ts, MutatingOptions). */
const PATCH_ONLY: MutatingOptions = { object: false };

const ALL_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;

function sendError(reply: FastifyReply, statusCode: number, code: string, message: string): FastifyReply {
  return reply.code(statusCode).type('application/json').send(JSON.stringify({ code, message, statusCode }));
}

/** Fastify's own errors (body parsing, limits) as tollgate's catalogue names them. */
function fromFastifyError(error: FastifyError): TollgateError | undefined {
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new TollgateError(ErrorCodes.TG_ERR_REVIEW_CONTENT_TYPE, 'Content-Type must be application/json');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new TollgateError(ErrorCodes.TG_ERR_REVIEW_TOO_LARGE, `body is larger than the limit`);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new TollgateError(ErrorCodes.TG_ERR_REVIEW_NOT_JSON, 'body is empty');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new TollgateError(ErrorCodes.TG_ERR_REVIEW_NOT_JSON, 'body is not valid JSON');
    default:
      if (error instanceof SyntaxError || (error.statusCode === 400 && /JSON|prototype|constructor/i.test(error.message))) {
        return new TollgateError(ErrorCodes.TG_ERR_REVIEW_NOT_JSON, `body is not acceptable JSON: ${error.message}`);
      }
      return undefined;
  }
}

export async function buildServer(options: ServerOptions): Promise<FastifyInstance> {
  const { engine, logger, onReview } = options;
  const reviewLines = reviewLog(logger);
  const readiness = options.readiness ?? new Readiness();
  const timeouts: ServerTimeouts = {
    headersMs: HEADERS_TIMEOUT_MS,
    requestMs: REQUEST_TIMEOUT_MS,
    keepAliveMs: KEEP_ALIVE_TIMEOUT_MS,
    checkIntervalMs: CONNECTIONS_CHECK_INTERVAL_MS,
    ...options.timeouts,
  };
  const serverOptions = { connectionsCheckingInterval: timeouts.checkIntervalMs, headersTimeout: timeouts.headersMs };
  const app = fastify({
    // No logger for fastify: every line is ours (one per review, the error handler's, the
    // lifecycle's, and malformed requests' below). Given one, fastify makes and checks a child
    // logger and sets two listeners on every response even with its request lines off: 0.02-0.10
    // of the floor's throughput in paired runs. What else it would log is its 'Server listening'
    // line, and errors from code this server does not have: a second send, a handler that
    // throws after its answer, onListen and onRequestAbort hooks, streamed answers.
    logger: false,
    bodyLimit: options.bodyLimit ?? MAX_REVIEW_BODY_BYTES,
    keepAliveTimeout: timeouts.keepAliveMs,
    requestTimeout: timeouts.requestMs,
    connectionTimeout: timeouts.requestMs,
    return503OnClosing: false,
    // A `__proto__` or `constructor.prototype` key is refused with a 400, not passed to policies.
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    ...(options.https ? { https: { minVersion: 'TLSv1.2' as const, ...serverOptions, ...options.https } } : { http: serverOptions }),
  });
  app.server.headersTimeout = timeouts.headersMs;
  // Requests too malformed to reach a route (a bad request line, headers over the limit, a client
  // too slow to send them): fastify answers them, and logged them at trace when it had a logger.
  app.server.on('clientError', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'ECONNRESET') logger.debug({ err: describeError(error), code: error.code }, 'client error');
  });
  // Reviews are JSON only; fastify's built-in text/plain parser would hand policies a string.
  app.removeContentTypeParser('text/plain');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseReviewBody(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  app.setErrorHandler((error: FastifyError, _request, reply) => {
    const known = error instanceof TollgateError ? error : fromFastifyError(error);
    if (known) return sendError(reply, known.statusCode, known.code, known.message);
    const status = typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) logger.error({ err: describeError(error) }, 'unexpected error');
    return sendError(reply, status, error.code ?? ErrorCodes.TG_ERR_INTERNAL, status === 500 ? 'internal error' : error.message);
  });
  // Once shutdown has begun, every answer closes its connection, so clients move to other replicas.
  const closeIfShuttingDown = (reply: FastifyReply) => {
    if (readiness.has(SHUTDOWN_CONDITION)) reply.header('connection', 'close');
  };
  app.setNotFoundHandler((request, reply) => {
    closeIfShuttingDown(reply);
    return sendError(reply, 404, ErrorCodes.TG_ERR_NOT_FOUND, `no route ${request.method} ${request.url.split('?')[0]}`);
  });

  const maxInFlight = options.maxInFlightReviews ?? MAX_IN_FLIGHT_REVIEWS;
  let inFlight = 0;
  // One shared listener: a response closes once, so `on` needs no `once` wrapper per review.
  const reviewClosed = () => inFlight--;
  // One onRequest hook per route (a global hook would be a second call on every review).
  const closeOnShutdown = (_request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    closeIfShuttingDown(reply);
    done();
  };
  // Reviews are counted from the headers to the end of the answer (or the connection's end), so that
  // reviews waiting for the event loop count too; the overflow costs no body parse and no policy.
  const limitInFlight = (endpoint: ReviewEndpoint) => (_request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    closeIfShuttingDown(reply);
    if (inFlight >= maxInFlight) {
      options.metrics?.observeOverload(endpoint);
      sendError(reply.header('retry-after', '1'), 503, ErrorCodes.TG_ERR_OVERLOADED, `tollgate is overloaded (${inFlight} reviews in flight); retry`);
      return;
    }
    inFlight++;
    reply.raw.on('close', reviewClosed);
    done();
  };

  // The review's log line and metrics, once the turn's answers are sent (./after-answer.ts).
  const bookkeeping = afterAnswer(
    (endpoint, request, outcome, durationMs) => {
      reviewLines.add(endpoint, request, outcome, durationMs);
      onReview?.({ endpoint, request, outcome, durationMs });
    },
    {
      onError: (err) => logger.error({ err: describeError(err) }, 'review bookkeeping failed'),
      afterBatch: reviewLines.flush,
      atExit: () => logger.flush(),
    },
  );
  app.addHook('onClose', (_instance, done) => {
    bookkeeping.close();
    done();
  });

  /** Encodes the answer and sends it; the review is logged and counted after. */
  const answer = (endpoint: ReviewEndpoint, reply: FastifyReply, apiVersion: AdmissionApiVersion, request: AdmissionRequest, started: number, outcome: ReviewOutcome): void => {
    const body = encodeAdmissionReview(apiVersion, responseFromVerdict(request.uid, outcome.verdict));
    const durationMs = performance.now() - started;
    reply.type('application/json').send(body);
    bookkeeping.add(endpoint, request, outcome, durationMs);
  };
  // Synchronous unless a policy answered with a promise: a review all of whose policies answer at
  // once is answered in the same turn, with no promise for fastify to wait on.
  const reviewHandler = (endpoint: ReviewEndpoint) =>
    (request: FastifyRequest, reply: FastifyReply): Promise<void> | undefined => {
      const started = performance.now();
      const { apiVersion, request: admissionRequest } = decodeAdmissionReview(request.body);
      const chain = engine.current;
      const outcome = endpoint === 'mutate' ? chain.runMutating(admissionRequest, PATCH_ONLY) : chain.runValidating(admissionRequest);
      if (outcome instanceof Promise) return outcome.then((settled) => answer(endpoint, reply, apiVersion, admissionRequest, started, settled));
      answer(endpoint, reply, apiVersion, admissionRequest, started, outcome);
      return undefined;
    };

  const routes: Array<[string, 'GET' | 'POST', (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | void> | FastifyReply | undefined]> = [
    ['/mutate', 'POST', reviewHandler('mutate')],
    ['/validate', 'POST', reviewHandler('validate')],
    ['/healthz', 'GET', (_request, reply) => reply.type('text/plain').send('ok')],
    [
      '/readyz',
      'GET',
      (_request, reply) =>
        readiness.ready ? reply.type('text/plain').send('ok') : reply.code(503).type('text/plain').send(`not ready: ${readiness.reasons().join('; ')}`),
    ],
  ];
  const { metrics } = options;
  if (metrics) {
    routes.push(['/metrics', 'GET', async (_request, reply) => {
      // Every review answered before the scrape is in it.
      bookkeeping.finish();
      const { contentType, body } = await metrics.scrape();
      return reply.type(contentType).send(body);
    }]);
  }
  for (const [url, method, handler] of routes) {
    const endpoint = url === '/mutate' ? 'mutate' : url === '/validate' ? 'validate' : undefined;
    app.route({ url, method, handler, onRequest: endpoint ? limitInFlight(endpoint) : closeOnShutdown });
    const others = ALL_METHODS.filter((m) => m !== method && !(method === 'GET' && m === 'HEAD'));
    app.route({
      url,
      method: [...others],
      onRequest: closeOnShutdown,
      handler: (request, reply) =>
        sendError(reply.header('allow', method), 405, ErrorCodes.TG_ERR_METHOD_NOT_ALLOWED, `${request.method} is not allowed on ${url}; use ${method}`),
    });
  }
  return app;
}
