// Ends the process when its event loop stops turning. Synchronous code cannot be pre-empted
// in-process: a policy in a busy loop, or a regular expression backtracking on a field an attacker
// wrote, would hold every review until the kubelet's liveness probe gave up (about 30 s), and
// `tollgate check` until the CI job's own time-out. A worker thread keeps running while the main
// thread is stuck: it watches a heartbeat in shared memory and, past the limit, writes one fatal
// line naming the policy and review in progress, then kills the process. The apiserver's
// failurePolicy then applies at once, and the pod restarts.
import { Worker } from 'node:worker_threads';

/** Past this long without a turn of the event loop the process is killed; above the webhooks' timeoutSeconds (3 and 5 s in manifests/). */
export const DEFAULT_MAX_BLOCKED_SECONDS = 10;

/**
 * The shared memory: the time of the last heartbeat (ms, a BigInt64), then two Int32 slots (inside a
 * policy call or not; the length of its label), then the label: the policy and review, as UTF-8.
 */
const INSIDE = 2;
const LENGTH = 3;
const HEADER_BYTES = 16;
const LABEL_BYTES = 1024;

interface Shared {
  state: Int32Array;
  label: Uint8Array;
}

function beat(buffer: SharedArrayBuffer): void {
  Atomics.store(new BigInt64Array(buffer, 0, 1), 0, BigInt(Date.now()));
}

let shared: Shared | undefined;
let workContext = '';
const encoder = new TextEncoder();

/** What the process is working through, for the watchdog's line: `tollgate check` names the manifest. */
export function setWorkContext(context: string | undefined): void {
  workContext = context ?? '';
}

/** The review a policy call is for: its uid, and the object's namespace/name when known. */
export interface CallSubject {
  uid: string;
  namespace?: string;
  name?: string;
}

/**
 * Marks a synchronous call into a policy, so that the watchdog can name it if the process hangs
 * inside; no review for a policy's create(). No-op without a watchdog.
 */
export function enterPolicyCall(policy: string, review?: CallSubject): void {
  if (!shared) return;
  const object = review ? `${review.namespace ? `${review.namespace}/` : ''}${review.name ?? ''}` : '';
  const { written } = encoder.encodeInto(`${policy}\0${review?.uid ?? ''}\0${object}\0${workContext}`, shared.label);
  Atomics.store(shared.state, LENGTH, written);
  Atomics.store(shared.state, INSIDE, 1);
}

/** The call marked by enterPolicyCall has returned (or thrown). */
export function leavePolicyCall(): void {
  if (shared) Atomics.store(shared.state, INSIDE, 0);
}

// The worker's code: CommonJS, evaluated, so that it needs no file of its own next to the build.
const WATCHER = `
const { workerData } = require('node:worker_threads');
const { writeSync } = require('node:fs');
const { buffer, limitMs, tickMs, fd } = workerData;
const lastBeat = new BigInt64Array(buffer, 0, 1);
const state = new Int32Array(buffer, 0, ${HEADER_BYTES / 4});
const label = new Uint8Array(buffer, ${HEADER_BYTES});
setInterval(() => {
  const now = Date.now();
  // The last beat came up to a tick before the loop stopped: only past limit + tick is a block of at least the limit certain.
  const blockedMs = now - Number(Atomics.load(lastBeat, 0));
  if (blockedMs < limitMs + tickMs) return;
  const inside = Atomics.load(state, ${INSIDE}) === 1;
  const [policy, uid, object, context] = inside ? new TextDecoder().decode(label.slice(0, Atomics.load(state, ${LENGTH}))).split('\\0') : [];
  const where = !inside ? 'outside any policy call (an asynchronous policy after an await, or tollgate itself)'
    : (uid ? 'in policy "' + policy + '" on review ' + uid + (object ? ' of ' + object : '') : 'in policy "' + policy + '" while it was being created')
      + (context ? ' (' + context + ')' : '');
  const line = { level: 60, time: new Date(now).toISOString(), service: 'tollgate', policy, uid: uid || undefined, object: object || undefined,
    context: context || undefined, blockedMs, limitMs,
    msg: 'the event loop has been blocked for ' + blockedMs + ' ms ' + where + '; synchronous code cannot be interrupted, so the process is killed' };
  try { writeSync(fd, JSON.stringify(line) + '\\n'); } catch {}
  process.kill(process.pid, 'SIGKILL');
}, tickMs);
`;

export interface HangWatchdogOptions {
  /** Kill the process after the event loop has not turned for this long. */
  limitMs: number;
  /** Where the fatal line goes: the logs' file descriptor (1, stdout, by default). */
  fd?: number;
  /** Told if the watching thread fails, which leaves the process unwatched. */
  onFailure?: (err: Error) => void;
}

export interface HangWatchdog {
  close(): Promise<void>;
}

/** Starts the process's watchdog (one at a time). Its thread and timer never keep the process alive. */
export function startHangWatchdog(options: HangWatchdogOptions): HangWatchdog {
  if (shared) throw new Error('a hang watchdog is already running in this process');
  const buffer = new SharedArrayBuffer(HEADER_BYTES + LABEL_BYTES);
  shared = { state: new Int32Array(buffer, 0, HEADER_BYTES / 4), label: new Uint8Array(buffer, HEADER_BYTES) };
  // Beats and checks a quarter of the limit apart (at most 250 ms): a block is found within limit + two ticks.
  const tickMs = Math.max(10, Math.min(250, Math.floor(options.limitMs / 4)));
  beat(buffer);
  const heartbeat = setInterval(() => beat(buffer), tickMs).unref();
  const worker = new Worker(WATCHER, { eval: true, workerData: { buffer, limitMs: options.limitMs, tickMs, fd: options.fd ?? 1 } });
  worker.unref();
  worker.on('error', (err) => options.onFailure?.(err));
  let closing: Promise<void> | undefined;
  return {
    close() {
      closing ??= (async () => {
        clearInterval(heartbeat);
        shared = undefined;
        await worker.terminate();
      })();
      return closing;
    },
  };
}
