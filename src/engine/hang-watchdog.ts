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

// The shared memory: Int32 slots (inside a policy call now; any policy called yet; a count of
// heartbeats; whether the name is a generateName; the byte length of each field), then the fields of the last policy call, each in its
// own slice: no separator that a uid or a name could carry, so nothing a client wrote can pose as
// another field.
const INSIDE = 0;
const CALLED = 1;
const BEATS = 2;
const GENERATED_NAME = 3;
const FIELD_LENGTHS = 4;
const FIELDS = ['policy', 'uid', 'namespace', 'name', 'context'] as const;
const [POLICY, UID, NAMESPACE, NAME, CONTEXT] = [0, 1, 2, 3, 4];

const SLOTS = FIELD_LENGTHS + FIELDS.length;
const HEADER_BYTES = 4 * SLOTS;
/** Characters kept of each field; three bytes each at most in UTF-8 (a lone surrogate becomes three). */
const FIELD_CHARS = 256;
const FIELD_BYTES = FIELD_CHARS * 3;

/** Taken now, so that a policy replacing them later cannot fool the watchdog. */
const { add: atomicAdd, store: atomicStore } = Atomics;

interface Shared {
  slots: Int32Array;
  fields: Uint8Array[];
  /** Mirrors the CALLED slot, so that it is stored once. */
  called: boolean;
  /** What the fields hold now, to write a field only when it changes (a review's policies share its uid and name). */
  written: { policy?: string | undefined; subject?: CallSubject | undefined; uid?: string | undefined; namespace: string; context: string };
  /** Users of the one watchdog (commands run in one process share it). */
  users: number;
  close(): Promise<void>;
}

let shared: Shared | undefined;
const encoder = new TextEncoder();
/** What a review is part of, by uid, for the watchdog's line: `tollgate check` names the manifest. */
const contexts = new Map<string, string>();

/**
 * A heartbeat is a count, not a time: the watching thread notes when it last saw the count move, by
 * its own clock, so a beat costs one atomic add (policy calls beat twice each, on every review).
 */
function beat(state: Shared): void {
  atomicAdd(state.slots, BEATS, 1);
}

/** Cut before joining: slicing a joined string copies all of it first, which a huge name would make costly. */
const cut = (text: string) => (text.length > FIELD_CHARS ? text.slice(0, FIELD_CHARS) : text);

/** Highest code unit that is one byte, itself, in UTF-8. */
const LAST_ASCII = 0x7f;

function writeField(state: Shared, index: number, text: string): void {
  const field = state.fields[index]!;
  // A uid or a name is short ASCII: copied a code unit a byte here, without encodeInto's call into
  // C++, which cost more at saturation than the copy (0.4 µs of a /mutate review's 4.5 in the engine).
  let written = 0;
  if (typeof text === 'string' && text.length <= FIELD_CHARS) {
    for (; written < text.length; written++) {
      const code = text.charCodeAt(written);
      if (code > LAST_ASCII) break;
      field[written] = code;
    }
  }
  if (written !== text.length) written = encoder.encodeInto(cut(text), field).written;
  atomicStore(state.slots, FIELD_LENGTHS + index, written);
}

/** Names what the review `uid` is part of (a manifest's file and document), until forgotten. */
export function noteReviewContext(uid: string, context: string): void {
  if (!shared) return;
  contexts.set(uid, context);
  // Written again at the next call, even for a review already seen.
  shared.written.subject = undefined;
}

export function forgetReviewContext(uid: string): void {
  contexts.delete(uid);
}

/** The review a policy call is for: its uid, and the object's namespace/name when known. */
export interface CallSubject {
  uid: string;
  namespace?: string;
  name?: string;
  object?: { metadata?: { generateName?: unknown } } | null;
}

/** Writes the review's fields: per review, not per policy call, and the namespace only when it changes. */
function writeSubject(state: Shared, review: CallSubject | undefined): void {
  const { written } = state;
  written.subject = review;
  written.uid = review?.uid;
  writeField(state, UID, review?.uid ?? '');
  const namespace = review?.namespace ?? '';
  if (namespace !== written.namespace) {
    writeField(state, NAMESPACE, namespace);
    written.namespace = namespace;
  }
  const generateName = review?.object?.metadata?.generateName;
  const generated = !review?.name && typeof generateName === 'string';
  writeField(state, NAME, generated ? generateName : (review?.name ?? ''));
  atomicStore(state.slots, GENERATED_NAME, generated ? 1 : 0);
  // `tollgate check` names the manifest; the server never does, and has no map to look in.
  const context = review && contexts.size > 0 ? (contexts.get(review.uid) ?? '') : '';
  if (context !== written.context) {
    writeField(state, CONTEXT, context);
    written.context = context;
  }
}

/**
 * Marks the start of synchronous policy code (its call, or the engine reading what it returned),
 * so that the watchdog can name it if the process hangs inside; no review for a policy's create().
 * Entering and leaving count as heartbeats: a run of synchronous policies (`check` awaits only
 * settled promises) is not a block. No-op without a watchdog.
 */
export function enterPolicyCall(policy: string, review?: CallSubject): void {
  const state = shared;
  if (!state) return;
  const { written } = state;
  if (policy !== written.policy) {
    writeField(state, POLICY, policy);
    written.policy = policy;
  }
  if (review !== written.subject || review?.uid !== written.uid) writeSubject(state, review);
  if (!state.called) {
    state.called = true;
    atomicStore(state.slots, CALLED, 1);
  }
  atomicStore(state.slots, INSIDE, 1);
  beat(state);
}

/** The code marked by enterPolicyCall has returned (or thrown). */
export function leavePolicyCall(): void {
  const state = shared;
  if (!state) return;
  atomicStore(state.slots, INSIDE, 0);
  beat(state);
}

// The worker's code: CommonJS, evaluated, so that it needs no file of its own next to the build.
const WATCHER = `
const { workerData } = require('node:worker_threads');
const { write } = require('node:fs');
const { buffer, limitMs, tickMs, fd, names } = workerData;
const slots = new Int32Array(buffer, 0, ${SLOTS});
const fields = names.map((_, i) => new Uint8Array(buffer, ${HEADER_BYTES} + i * ${FIELD_BYTES}, ${FIELD_BYTES}));
// The last beat came up to a tick before the loop stopped, and was seen here up to a tick after it:
// only past limit + tick since the count last moved is a block of at least the limit certain.
const limitNs = BigInt(Math.ceil(limitMs + tickMs)) * 1000000n;
let beats = Atomics.load(slots, ${BEATS});
let movedAt = process.hrtime.bigint();
const timer = setInterval(() => {
  const now = process.hrtime.bigint();
  const count = Atomics.load(slots, ${BEATS});
  if (count !== beats) {
    beats = count;
    movedAt = now;
    return;
  }
  const blockedNs = now - movedAt;
  if (blockedNs < limitNs) return;
  clearInterval(timer);
  const blockedMs = Number(blockedNs / 1000000n);
  const read = {};
  if (Atomics.load(slots, ${CALLED}) === 1) names.forEach((name, i) => { read[name] = new TextDecoder().decode(fields[i].slice(0, Atomics.load(slots, ${FIELD_LENGTHS} + i))); });
  const name = (read.name ?? '') + (read.name && Atomics.load(slots, ${GENERATED_NAME}) === 1 ? '*' : '');
  const object = read.namespace ? read.namespace + '/' + name : name;
  const last = { policy: read.policy || undefined, uid: read.uid || undefined, object: object || undefined, context: read.context || undefined };
  const call = last.policy === undefined ? '' : 'policy ' + JSON.stringify(last.policy)
    + (last.uid ? ' on review ' + JSON.stringify(last.uid) + (last.object ? ' of ' + JSON.stringify(last.object) : '') : ' while it was being created')
    + (last.context ? ' (' + JSON.stringify(last.context) + ')' : '');
  const where = Atomics.load(slots, ${INSIDE}) === 1 ? 'in ' + call
    : 'outside any policy\\'s synchronous code (an asynchronous policy after an await, or tollgate itself' + (call ? '; the last called was ' + call : '') + ')';
  const line = { level: 60, time: new Date().toISOString(), service: 'tollgate', ...last, insidePolicy: Atomics.load(slots, ${INSIDE}) === 1, blockedMs, limitMs,
    msg: 'the event loop has been blocked for ' + blockedMs + ' ms ' + where + '; synchronous code cannot be interrupted, so the process is killed' };
  const kill = () => process.kill(process.pid, 'SIGKILL');
  // Written asynchronously, and the kill waits a second at most for it: a log reader that has
  // stalled must not hold the process. Partial writes and EAGAIN (a non-blocking pipe) are retried.
  setTimeout(kill, 1000);
  // On a line of its own, whatever a cut-off batch left on the last one.
  const bytes = Buffer.from('\\n' + JSON.stringify(line) + '\\n');
  let offset = 0;
  const writeRest = () => write(fd, bytes, offset, bytes.length - offset, null, (err, written) => {
    if (err && err.code !== 'EAGAIN') return kill();
    offset += err ? 0 : written;
    if (offset >= bytes.length) return kill();
    setTimeout(writeRest, 20);
  });
  writeRest();
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

/**
 * Starts the process's watchdog, or joins the one running (whose limit and fd then apply): commands
 * run in one process share it, and it stops when the last of them closes. Its thread and timer never
 * keep the process alive.
 */
export function startHangWatchdog(options: HangWatchdogOptions): HangWatchdog {
  const state = shared ?? createShared(options);
  state.users++;
  let closed = false;
  return {
    async close() {
      if (closed) return;
      closed = true;
      if (--state.users === 0) await state.close();
    },
  };
}

function createShared(options: HangWatchdogOptions): Shared {
  const buffer = new SharedArrayBuffer(HEADER_BYTES + FIELDS.length * FIELD_BYTES);
  // Beats and checks a quarter of the limit apart (at most 250 ms): a block is found within limit + two ticks.
  const tickMs = Math.max(10, Math.min(250, Math.floor(options.limitMs / 4)));
  const worker = new Worker(WATCHER, {
    eval: true,
    workerData: { buffer, limitMs: options.limitMs, tickMs, fd: options.fd ?? 1, names: FIELDS },
    // Not piped to this thread's process.stdout and stderr: setting those up would switch fds 1 and 2
    // to non-blocking for every process sharing the pipe.
    stdout: true,
    stderr: true,
  });
  worker.unref();
  worker.on('error', (err) => options.onFailure?.(err));
  const slots = new Int32Array(buffer, 0, SLOTS);
  const heartbeat = setInterval(() => atomicAdd(slots, BEATS, 1), tickMs).unref();
  const state: Shared = {
    slots,
    fields: FIELDS.map((_, i) => new Uint8Array(buffer, HEADER_BYTES + i * FIELD_BYTES, FIELD_BYTES)),
    written: { namespace: '', context: '' },
    called: false,
    users: 0,
    async close() {
      stop();
      await worker.terminate();
    },
  };
  const stop = () => {
    clearInterval(heartbeat);
    if (shared !== state) return;
    shared = undefined;
    contexts.clear();
  };
  // A worker that failed watches nothing: the next start makes a new one instead of joining it.
  worker.once('exit', stop);
  shared = state;
  return state;
}
