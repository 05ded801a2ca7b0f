// A review's log line and metrics are done after its answer, for all of a turn's reviews together:
// never before the answer, never lost (at exit either), and a failing hook costs no answer.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ReviewOutcome } from '../../src/engine/engine.js';
import { PolicyEngine } from '../../src/engine/engine.js';
import { afterAnswer } from '../../src/http/after-answer.js';
import { buildServer, type ReviewEvent } from '../../src/http/server.js';
import { memoryLogger } from '../helpers/logs.js';
import { validating } from '../helpers/policies.js';
import { pod, requestFor, reviewFor } from '../helpers/reviews.js';

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
const outcome: ReviewOutcome = { verdict: { allowed: true, warnings: [] }, policies: [] };
const quiet = { onError: () => {}, afterBatch: () => {}, atExit: () => {} };

describe('afterAnswer', () => {
  it('does the queued reviews together, in order, at the end of the turn and not before', async () => {
    const done: string[] = [];
    const after = afterAnswer((_endpoint, request) => done.push(request.uid), quiet);
    try {
      for (const uid of ['a', 'b', 'c']) after.add('validate', requestFor(pod(['nginx']), { uid }), outcome, 1);
      await Promise.resolve();
      expect(done).toEqual([]);
      await nextTurn();
      expect(done).toEqual(['a', 'b', 'c']);
      after.add('mutate', requestFor(pod(['nginx']), { uid: 'd' }), outcome, 1);
      await nextTurn();
      expect(done).toEqual(['a', 'b', 'c', 'd']);
    } finally {
      after.close();
    }
  });

  it('calls afterBatch once after each batch, after all of its reviews', async () => {
    const calls: string[] = [];
    const after = afterAnswer((_endpoint, request) => calls.push(request.uid), { ...quiet, afterBatch: () => calls.push('batch') });
    try {
      after.add('validate', requestFor(pod(['nginx']), { uid: 'a' }), outcome, 1);
      after.add('validate', requestFor(pod(['nginx']), { uid: 'b' }), outcome, 1);
      await nextTurn();
      after.add('validate', requestFor(pod(['nginx']), { uid: 'c' }), outcome, 1);
      await nextTurn();
      expect(calls).toEqual(['a', 'b', 'batch', 'c', 'batch']);
    } finally {
      after.close();
    }
  });

  it('does what is queued at once when asked, and each review once', async () => {
    const done: string[] = [];
    const after = afterAnswer((_endpoint, request) => done.push(request.uid), quiet);
    after.add('validate', requestFor(pod(['nginx']), { uid: 'a' }), outcome, 1);
    after.finish();
    expect(done).toEqual(['a']);
    await nextTurn();
    after.close();
    expect(done).toEqual(['a']);
  });

  it('reports a review whose bookkeeping throws and still does the others', async () => {
    const done: string[] = [];
    const errors: unknown[] = [];
    const after = afterAnswer(
      (_endpoint, request) => {
        if (request.uid === 'bad') throw new Error('hook broke');
        done.push(request.uid);
      },
      { ...quiet, onError: (err) => errors.push(err) },
    );
    try {
      for (const uid of ['a', 'bad', 'c']) after.add('validate', requestFor(pod(['nginx']), { uid }), outcome, 1);
      await nextTurn();
      expect(done).toEqual(['a', 'c']);
      expect(errors).toEqual([new Error('hook broke')]);
    } finally {
      after.close();
    }
  });

  it('goes on, and still ends the batch, when reporting a failure fails too', () => {
    const done: string[] = [];
    let batches = 0;
    const after = afterAnswer(
      (_endpoint, request) => {
        if (request.uid === 'bad') throw new Error('hook broke');
        done.push(request.uid);
      },
      {
        ...quiet,
        onError: () => {
          throw new Error('describing it broke too');
        },
        afterBatch: () => batches++,
      },
    );
    try {
      for (const uid of ['a', 'bad', 'c']) after.add('validate', requestFor(pod(['nginx']), { uid }), outcome, 1);
      expect(() => after.finish()).not.toThrow();
      expect(done).toEqual(['a', 'c']);
      expect(batches).toBe(1);
    } finally {
      after.close();
    }
  });

  it('leaves a review queued by the bookkeeping itself to the next turn', async () => {
    const done: string[] = [];
    const after = afterAnswer(
      (_endpoint, request) => {
        done.push(request.uid);
        if (request.uid === 'a') after.add('validate', requestFor(pod(['nginx']), { uid: 'again' }), outcome, 1);
      },
      quiet,
    );
    try {
      after.add('validate', requestFor(pod(['nginx']), { uid: 'a' }), outcome, 1);
      await nextTurn();
      expect(done).toEqual(['a']);
      await nextTurn();
      expect(done).toEqual(['a', 'again']);
    } finally {
      after.close();
    }
  });
});

describe('the server', () => {
  it('answers a review whose metrics hook throws, logs the failure, and goes on logging reviews', async () => {
    const logs = memoryLogger();
    const seen: string[] = [];
    const app = await buildServer({
      engine: { current: new PolicyEngine([validating('ok', () => ({ allowed: true }))]) },
      logger: logs.logger,
      onReview: (event: ReviewEvent) => {
        seen.push(event.request.uid);
        if (event.request.uid === 'u-hook') throw new Error('hook broke');
      },
    });
    try {
      const post = (uid: string) =>
        app.inject({ method: 'POST', url: '/validate', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(reviewFor(pod(['nginx']), { uid })) });
      const answer = await post('u-hook');
      expect(answer.statusCode).toBe(200);
      expect(answer.json().response).toEqual({ uid: 'u-hook', allowed: true });
      await nextTurn();
      expect((await post('u-next')).statusCode).toBe(200);
      await nextTurn();
      expect(seen).toEqual(['u-hook', 'u-next']);
      const lines = logs.lines();
      expect(lines.filter((l) => l.msg === 'review').map((l) => l.uid)).toEqual(['u-hook', 'u-next']);
      expect(lines.find((l) => l.msg === 'review bookkeeping failed')).toMatchObject({ level: 50, err: 'hook broke' });
    } finally {
      await app.close();
    }
  });

  it('writes the line of every review answered when a review hook exits the process in the middle of a batch', () => {
    const script = `
      import { buildServer } from ${JSON.stringify(path.resolve('dist/src/http/server.js'))};
      import { PolicyEngine } from ${JSON.stringify(path.resolve('dist/src/engine/engine.js'))};
      import { createLogger } from ${JSON.stringify(path.resolve('dist/src/log/logger.js'))};
      const app = await buildServer({
        engine: { current: new PolicyEngine([]) },
        logger: createLogger(),
        onReview: (event) => { if (event.request.uid === 'u2') process.exit(0); },
      });
      const reviews = ${JSON.stringify(['u1', 'u2', 'u3'].map((uid) => JSON.stringify(reviewFor(pod(['nginx']), { uid }))))};
      await Promise.all(reviews.map((review) => app.inject({ method: 'POST', url: '/validate', headers: { 'content-type': 'application/json' }, payload: review })
        .then((answer) => process.stderr.write('answered ' + answer.json().response.uid + '\\n'))));
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    const answered = [...child.stderr.matchAll(/answered (u\d)/g)].map((m) => m[1]);
    // All three were answered in one turn, before their bookkeeping: the exit came from u2's.
    expect(answered).toEqual(['u1', 'u2', 'u3']);
    const logged = child.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.msg === 'review')
      .map((line) => line.uid);
    expect(logged).toEqual(['u1', 'u2', 'u3']);
  });

  it('writes the line of a review answered in the turn the process exits in', () => {
    // The exit comes in the same turn as the answer, before the turn's end would have logged it.
    const script = `
      import { buildServer } from ${JSON.stringify(path.resolve('dist/src/http/server.js'))};
      import { PolicyEngine } from ${JSON.stringify(path.resolve('dist/src/engine/engine.js'))};
      import { createLogger } from ${JSON.stringify(path.resolve('dist/src/log/logger.js'))};
      const app = await buildServer({ engine: { current: new PolicyEngine([]) }, logger: createLogger() });
      const review = ${JSON.stringify(JSON.stringify(reviewFor(pod(['nginx']), { uid: 'u-exit' })))};
      const answer = await app.inject({ method: 'POST', url: '/validate', headers: { 'content-type': 'application/json' }, payload: review });
      process.stderr.write('answered ' + answer.statusCode + '\\n');
      process.exit(0);
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    expect(child.stderr).toContain('answered 200');
    const reviews = child.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.msg === 'review');
    expect(reviews).toMatchObject([{ uid: 'u-exit', verdict: 'allowed' }]);
  });
});
