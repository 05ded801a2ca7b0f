// What is done for a review once its answer is sent: its log line and its metrics. Put off to the
// end of the event loop's turn (setImmediate, after the turn's I/O) and done there for all of the
// turn's reviews together. Done inline, each review's bookkeeping ran cold between two answers and
// held up the next one: at saturation it cost 3-4 times its warm-loop time, and moving it here
// raised /validate from 0.73 to 0.82 of the floor's throughput (README, "Performance").
import type { AdmissionRequest } from '../admission/types.js';
import type { ReviewOutcome } from '../engine/engine.js';
import type { ReviewEndpoint } from './server.js';

export type ReviewBookkeeping = (endpoint: ReviewEndpoint, request: AdmissionRequest, outcome: ReviewOutcome, durationMs: number) => void;

export interface AfterAnswer {
  /** Queues a review's bookkeeping; it is done before the event loop waits for I/O again. */
  add: ReviewBookkeeping;
  /** Does what is queued, now. */
  finish(): void;
  /** Does what is queued, and stops doing it at exit. */
  close(): void;
}

/** What the process's queues hold when it exits before their turn ends: done then, by one listener. */
const unfinished = new Set<() => void>();
process.once('exit', () => {
  for (const finish of unfinished) finish();
});

export interface AfterAnswerOptions {
  /** For a review whose bookkeeping throws (an embedder's hook, say), so that the others are still done. */
  onError(err: unknown): void;
  /** After each batch (the review lines' write: one for all of them). */
  afterBatch(): void;
  /** After what is queued is done at exit (the logger's flush: the lines must reach stdout before the process is gone). */
  atExit(): void;
}

/** `bookkeeping` for each review, after the answers of the turn. */
export function afterAnswer(bookkeeping: ReviewBookkeeping, options: AfterAnswerOptions): AfterAnswer {
  // Four slots per review, so that queueing one allocates nothing.
  let queued: unknown[] = [];
  let spare: unknown[] = [];
  let scheduled = false;
  /** The batch being done and the next review in it: an exit in the middle (a hook calling process.exit) does the rest. */
  let doing: unknown[] | undefined;
  let next = 0;
  const report = (err: unknown) => {
    try {
      options.onError(err);
    } catch {
      // Describing what the hook threw threw too (a getter, say): the batch goes on all the same.
    }
  };
  const doRest = (reviews: unknown[]) => {
    while (next < reviews.length) {
      const at = next;
      next += 4;
      try {
        bookkeeping(reviews[at] as ReviewEndpoint, reviews[at + 1] as AdmissionRequest, reviews[at + 2] as ReviewOutcome, reviews[at + 3] as number);
      } catch (err) {
        report(err);
      }
    }
  };
  const finish = () => {
    scheduled = false;
    // Re-entered from inside a batch (by a hook): the batch in hand goes on, and ends it. An exit
    // in the middle does not come here: finishAtExit does the rest of that batch.
    if (doing !== undefined || queued.length === 0) return;
    const reviews = queued;
    // Swapped before the calls, so that a review queued by one of them waits for the next turn.
    queued = spare;
    doing = reviews;
    next = 0;
    try {
      doRest(reviews);
    } finally {
      doing = undefined;
      // Emptied, so that nothing holds the reviews' objects until the next turn.
      reviews.length = 0;
      spare = reviews;
      options.afterBatch();
    }
  };
  const finishAtExit = () => {
    if (doing !== undefined) doRest(doing);
    if (queued.length > 0) {
      next = 0;
      doRest(queued);
    }
    // Always: lines made before an exit from inside the batch are held, not yet written.
    options.afterBatch();
    options.atExit();
  };
  unfinished.add(finishAtExit);
  return {
    add(endpoint, request, outcome, durationMs) {
      queued.push(endpoint, request, outcome, durationMs);
      if (scheduled) return;
      scheduled = true;
      setImmediate(finish);
    },
    finish,
    close() {
      finish();
      unfinished.delete(finishAtExit);
    },
  };
}
