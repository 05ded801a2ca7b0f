// The load, shaped like kube-apiserver's webhook client: HTTP/1.1, keep-alive, never pipelined,
// `?timeout=10s` on the path. Saturation runs use autocannon; the fixed-rate (open-loop) runs and
// the fresh-handshake runs use node's https client, because autocannon's rate limit sends each
// second's requests in one burst and records latency in whole milliseconds.
import autocannon from 'autocannon';
import https from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Body } from './bodies.js';
import type { ServerProcess } from './processes.js';

/** The name in the serving certificate; servers listen on 127.0.0.1. */
export const SERVER_NAME = 'localhost';
/** kube-apiserver appends the webhook's timeoutSeconds to the path. */
const TIMEOUT_QUERY = '?timeout=10s';
/** kube-apiserver keeps up to this many idle connections per webhook host. */
export const APISERVER_IDLE_CONNECTIONS = 25;
const REQUEST_TIMEOUT_MS = 10_000;
const RSS_SAMPLE_MS = 200;

export type Endpoint = 'validate' | 'mutate';

const HEADERS = { 'content-type': 'application/json', accept: 'application/json', 'user-agent': 'kube-apiserver-admission' };

/** What the server process spent on a run. */
export interface ServerCost {
  /** CPU seconds of the server process per completed review. */
  cpuPerReview: number;
  /** Largest RSS seen during the run. */
  peakRssBytes: number;
}

async function measured<T extends { completed: number }>(server: ServerProcess, run: () => Promise<T>): Promise<T & ServerCost> {
  const cpuBefore = server.cpuSeconds();
  let peakRssBytes = server.rssBytes();
  const sampler = setInterval(() => {
    peakRssBytes = Math.max(peakRssBytes, server.rssBytes());
  }, RSS_SAMPLE_MS);
  try {
    const result = await run();
    peakRssBytes = Math.max(peakRssBytes, server.rssBytes());
    return { ...result, cpuPerReview: (server.cpuSeconds() - cpuBefore) / Math.max(1, result.completed), peakRssBytes };
  } finally {
    clearInterval(sampler);
  }
}

export interface SaturationResult extends ServerCost {
  completed: number;
  perSecond: number;
  errors: number;
}

/** How long warmUp runs: a second, as it always did (asked for half of one, autocannon ran a whole one; see saturate). */
export const WARM_UP_SECONDS = 1;

/** autocannon's sample interval, the most it waits by default: it ends a run only at a sample, so a shorter run needs shorter samples. */
const AUTOCANNON_SAMPLE_MS = 1000;

/** Untimed load on a server before a point is measured on a body it has not just been serving: its JIT code is warm then. */
export async function warmUp(server: ServerProcess, endpoint: Endpoint, body: Body, connections: number): Promise<void> {
  await saturate(server, endpoint, body, { connections, seconds: WARM_UP_SECONDS });
}

/** Closed-loop load on `connections` keep-alive connections for `seconds`. */
export async function saturate(server: ServerProcess, endpoint: Endpoint, body: Body, options: { connections: number; seconds: number }): Promise<SaturationResult> {
  return measured(server, async () => {
    const result = await autocannon({
      url: `${server.url.origin}/${endpoint}${TIMEOUT_QUERY}`,
      method: 'POST',
      headers: HEADERS,
      body: body.json,
      connections: options.connections,
      pipelining: 1,
      duration: options.seconds,
      sampleInt: Math.min(AUTOCANNON_SAMPLE_MS, options.seconds * 1000),
      timeout: REQUEST_TIMEOUT_MS / 1000,
      servername: SERVER_NAME,
    });
    const completed = result['2xx'];
    return { completed, perSecond: completed / result.duration, errors: result.errors + result.timeouts + result.non2xx };
  });
}

export interface LatencyResult extends ServerCost {
  completed: number;
  errors: number;
  /** Client-side latencies in milliseconds, sorted. */
  latenciesMs: number[];
}

interface Post {
  agent: https.Agent | false;
  ca: Buffer;
}

function post(server: ServerProcess, endpoint: Endpoint, body: Buffer, options: Post): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const request = https.request(
      {
        host: server.url.hostname,
        port: server.url.port,
        path: `/${endpoint}${TIMEOUT_QUERY}`,
        method: 'POST',
        servername: SERVER_NAME,
        ca: options.ca,
        agent: options.agent,
        timeout: REQUEST_TIMEOUT_MS,
        headers: { ...HEADERS, 'content-length': String(body.length) },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', reject);
      },
    );
    request.on('timeout', () => request.destroy(new Error('timed out')));
    request.on('error', reject);
    request.end(body);
  });
}

/** Before a fixed-rate run is timed, it runs this long at its rate so that the pool of connections is open. */
const POOL_WARM_UP_MS = 500;

/**
 * Open-loop load: requests are sent on schedule at `rate` per second whether or not earlier ones
 * have been answered, on a pool of at most 25 keep-alive connections (requests beyond wait for one).
 * Latency runs from the moment a request is handed to the client to the last byte of its answer.
 * The pool is opened by an untimed first half second, as the apiserver's stays open between calls:
 * without it every early request would pay a handshake and the queue behind them.
 */
export async function fixedRate(
  server: ServerProcess,
  endpoint: Endpoint,
  body: Body,
  options: { rate: number; seconds: number; ca: Buffer },
): Promise<LatencyResult> {
  const payload = Buffer.from(body.json);
  const agent = new https.Agent({ keepAlive: true, maxSockets: APISERVER_IDLE_CONNECTIONS, maxFreeSockets: APISERVER_IDLE_CONNECTIONS, scheduling: 'lifo' });
  const drive = async (seconds: number) => {
    const total = Math.round(options.rate * seconds);
    const latenciesMs: number[] = [];
    const inFlight = new Set<Promise<void>>();
    let errors = 0;
    const started = performance.now();
    let sent = 0;
    while (sent < total) {
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * options.rate) + 1);
      for (; sent < due; sent++) {
        const t0 = performance.now();
        const done = post(server, endpoint, payload, { agent, ca: options.ca }).then(
          (answer) => {
            if (answer.status === 200) latenciesMs.push(performance.now() - t0);
            else errors++;
          },
          () => {
            errors++;
          },
        );
        inFlight.add(done);
        void done.then(() => inFlight.delete(done));
      }
      await sleep(1);
    }
    await Promise.all(inFlight);
    latenciesMs.sort((a, b) => a - b);
    return { completed: latenciesMs.length, errors, latenciesMs };
  };
  try {
    const warm = await drive(POOL_WARM_UP_MS / 1000);
    const result = await measured(server, () => drive(options.seconds));
    return { ...result, errors: result.errors + warm.errors };
  } finally {
    agent.destroy();
  }
}

/**
 * Closed-loop load from node's https client: `concurrency` requests in flight, each on a new TLS
 * connection (closed after it) when `fresh`, else on kept-alive connections.
 */
export async function closedLoop(
  server: ServerProcess,
  endpoint: Endpoint,
  body: Body,
  options: { concurrency: number; seconds: number; ca: Buffer; fresh: boolean },
): Promise<LatencyResult & { perSecond: number }> {
  const payload = Buffer.from(body.json);
  const agent = options.fresh ? false : new https.Agent({ keepAlive: true, maxFreeSockets: APISERVER_IDLE_CONNECTIONS, scheduling: 'lifo' });
  try {
    const result = await measured(server, async () => {
      const latenciesMs: number[] = [];
      let errors = 0;
      const deadline = performance.now() + options.seconds * 1000;
      const worker = async () => {
        while (performance.now() < deadline) {
          const t0 = performance.now();
          try {
            const answer = await post(server, endpoint, payload, { agent, ca: options.ca });
            if (answer.status === 200) latenciesMs.push(performance.now() - t0);
            else errors++;
          } catch {
            errors++;
          }
        }
      };
      const started = performance.now();
      await Promise.all(Array.from({ length: options.concurrency }, worker));
      latenciesMs.sort((a, b) => a - b);
      return { completed: latenciesMs.length, errors, latenciesMs, seconds: (performance.now() - started) / 1000 };
    });
    return { ...result, perSecond: result.completed / result.seconds };
  } finally {
    if (agent) agent.destroy();
  }
}

/** One review, answered as a client would check it: status 200, the uid echoed, the verdict. */
export async function probe(server: ServerProcess, endpoint: Endpoint, body: Body, ca: Buffer): Promise<{ allowed: boolean; patched: boolean }> {
  const answer = await post(server, endpoint, Buffer.from(body.json), { agent: false, ca });
  if (answer.status !== 200) throw new Error(`${server.label} /${endpoint} (${body.name}) answered ${answer.status}: ${answer.text.slice(0, 300)}`);
  const review = JSON.parse(answer.text) as { response?: { uid?: string; allowed?: boolean; patchType?: string } };
  if (review.response?.uid !== body.uid) throw new Error(`${server.label} /${endpoint} (${body.name}) did not echo the uid: ${answer.text.slice(0, 300)}`);
  return { allowed: review.response.allowed === true, patched: review.response.patchType === 'JSONPatch' };
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}
