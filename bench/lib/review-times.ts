// Tollgate's own measure of a review, from its log lines: `durationMs`, from the decoded body to the
// encoded answer (decode, policies, encode), with no HTTP, TLS or queueing in it. The cost curves
// fit it as well as CPU above the floor: it needs no floor, so the floor's noise is not in it.
import { setTimeout as sleep } from 'node:timers/promises';
import type { ServerProcess } from './processes.js';

/** The log output is written in batches; give the last lines of a run time to land. */
export const LOG_FLUSH_MS = 200;

/** The metric's name in the report: tollgate's own `durationMs` of a review, `trimmedMean` of a run's. */
export const REVIEW_TIME = 'server durationMs, trimmed mean';

/** `durationMs` of every review line logged since `offset`, sorted. */
export function reviewDurations(server: ServerProcess, offset: number): number[] {
  const durations: number[] = [];
  for (const line of server.logSince(offset).split('\n')) {
    if (!line.includes('"msg":"review"')) continue;
    const duration = (JSON.parse(line) as { durationMs?: unknown }).durationMs;
    if (typeof duration === 'number') durations.push(duration);
  }
  return durations.sort((a, b) => a - b);
}

/** `run`'s result, with the review durations (ms, sorted) that `server` logged during it; none unless `read` (the floor logs no reviews). */
export async function withReviewDurations<T>(server: ServerProcess, run: () => Promise<T>, read = true): Promise<T & { serverMs: number[] }> {
  if (!read) return { ...(await run()), serverMs: [] };
  const offset = server.logSize();
  const result = await run();
  await sleep(LOG_FLUSH_MS);
  return { ...result, serverMs: reviewDurations(server, offset) };
}

/**
 * The mean of the middle 80% of sorted values: the log rounds each duration to the microsecond,
 * which a median would keep, and a review that a collection paused would sway a plain mean.
 */
export function trimmedMean(sorted: readonly number[]): number {
  const cut = Math.floor(sorted.length / 10);
  const middle = sorted.slice(cut, sorted.length - cut);
  return middle.length === 0 ? Number.NaN : middle.reduce((sum, value) => sum + value, 0) / middle.length;
}
