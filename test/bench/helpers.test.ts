// The benchmark's own helpers: the review bodies it sends and the arithmetic of its table. The
// benchmark itself never runs here (`npm run bench`).
import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { decodeAdmissionReview } from '../../src/admission/review.js';
import { defaultConfig } from '../../src/config/load.js';
import { createEngine } from '../../src/engine/create.js';
import { createLogger } from '../../src/log/logger.js';
import { bodyOf, deployment, pod, podOfSize, standardBodies } from '../../bench/lib/bodies.js';
import { allocatedIn } from '../../bench/allocation.js';
import { percentile, saturate } from '../../bench/lib/load.js';
import { readFrom, type ServerProcess } from '../../bench/lib/processes.js';
import { reviewDurations, trimmedMean, withReviewDurations } from '../../bench/lib/review-times.js';
import { Report, linearFit, median, ratioInterval, sideLevel } from '../../bench/lib/report.js';
import { BenchContext } from '../../bench/lib/context.js';

const silent = createLogger({ level: 'silent' });

describe('allocatedIn', () => {
  it('sums what each collection line of --trace-gc-nvp says was allocated, and nothing from other lines', () => {
    const line = (bytes: number) => `[1:0x1]  51 ms: pause=0.9 mutator=44.9 gc=s reduce_memory=0 scavenge=0.84 total_size_before=9 allocated=${bytes} promoted=128 semi_space_copied=5`;
    const log = [line(1000), '{"level":30,"msg":"review","allocated":5}', line(234), 'not_allocated=7'].join('\n');
    expect(allocatedIn(log)).toBe(1234);
    expect(allocatedIn('')).toBe(0);
  });
});

describe('bench bodies', () => {
  it.each(standardBodies().map((body) => [body.name, body] as const))('%s is a valid review that the default config admits, and patches on /mutate', async (_name, body) => {
    const { request } = decodeAdmissionReview(JSON.parse(body.json));
    expect(request.uid).toBe(body.uid);
    const engine = await createEngine(defaultConfig(), silent);
    const validation = await engine.validate(request);
    expect(validation.verdict.allowed).toBe(true);
    expect(validation.policies.map((p) => p.policy)).toEqual(['image-registry-allowlist']);
    const mutation = await engine.mutate(request);
    expect(mutation.verdict.patch?.map((op) => op.path)).toEqual([expect.stringMatching(/^\/metadata\/annotations/)]);
  });

  it('gives every review its own uid', () => {
    const uids = new Set([...standardBodies(), ...standardBodies()].map((b) => b.uid));
    expect(uids.size).toBe(6);
  });

  it('makes pods of the asked number of containers, with managedFields naming each', () => {
    const object = pod({ containers: 7, managedFields: true });
    const containers = (object.spec as { containers: Array<{ name: string }> }).containers;
    expect(containers.map((c) => c.name)).toEqual(['c0', 'c1', 'c2', 'c3', 'c4', 'c5', 'c6']);
    const fields = JSON.stringify(object.metadata?.managedFields);
    for (const c of containers) expect(fields).toContain(`k:{\\"name\\":\\"${c.name}\\"}`);
  });

  it('puts the Deployment pod template where containersOf finds it', async () => {
    const body = bodyOf('d', deployment());
    const review = JSON.parse(body.json) as { request: { kind: { group: string; kind: string }; object: { spec: { template: { spec: { containers: unknown[] } } } } } };
    expect(review.request.kind).toMatchObject({ group: 'apps', kind: 'Deployment' });
    expect(review.request.object.spec.template.spec.containers).toHaveLength(2);
  });

  it.each([16 * 1024, 256 * 1024, 3 * 1024 * 1024])('grows a pod to about %i bytes of review', (bytes) => {
    const size = podOfSize(bytes).json.length;
    expect(size).toBeGreaterThan(bytes * 0.95);
    expect(size).toBeLessThan(bytes * 1.05);
  });
});

describe('bench arithmetic', () => {
  it('takes percentiles by rank from sorted samples', () => {
    const samples = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(samples, 50)).toBe(50);
    expect(percentile(samples, 99)).toBe(99);
    expect(percentile(samples, 100)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  it('takes the median of odd and even counts', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it('fits a line and says how straight it is', () => {
    const straight = linearFit([[1, 12], [10, 30], [50, 110]]);
    expect(straight.slope).toBeCloseTo(2, 10);
    expect(straight.intercept).toBeCloseTo(10, 10);
    expect(straight.r2).toBeCloseTo(1, 10);
    expect(linearFit([[0, 5], [1, -5], [2, 5], [3, -5]]).r2).toBeLessThan(0.5);
  });

  it('prints floor, tollgate, their ratio and whether the target was met', () => {
    const report = new Report(false);
    report.add({ scenario: 's', point: 'p', metric: 'throughput', unit: 'req/s', floor: 1000, tollgate: 900, target: '≥ 0.85', met: true });
    report.add({ scenario: 's', point: 'q', metric: 'p99', unit: 'ms', floor: 1.234, tollgate: 2.5, target: '< 5 ms', met: false });
    const lines = report.toMarkdown().split('\n');
    expect(lines[2]).toBe('| s | p | throughput (req/s) | 1000 | 900 | 0.90 | ≥ 0.85 ✓ |');
    expect(lines[3]).toBe('|  | q | p99 (ms) | 1.23 | 2.50 | 2.03 | < 5 ms ✗ |');
  });

  it('prints a ratio\'s interval beside it, when a row has one', () => {
    const report = new Report(true);
    report.add({ scenario: 's', point: 'p', metric: 'throughput', unit: 'req/s', floor: 1000, tollgate: 880, baseline: 900, target: '≥ 0.85', met: true, interval: [0.8, 0.951], baselineInterval: [0.9, 1.04] });
    expect(report.toMarkdown().split('\n')[2]).toBe('| s | p | throughput (req/s) | 1000 | 880 | 0.88 [0.80-0.95] | 900 | 0.98 [0.90-1.04] | ≥ 0.85 ✓ |');
  });
});

describe('sideLevel and ratioInterval', () => {
  it('takes each process\'s median run, then the mean of the processes', () => {
    // Medians 100 and 200 (the 1000 is one bad run of the first process): the level is their mean.
    expect(sideLevel([[90, 100, 1000], [200, 190, 210]])).toBe(150);
    expect(sideLevel([[5]])).toBe(5);
  });

  it('is exact when nothing varies, and holds the ratio of the levels', () => {
    expect(ratioInterval([[9, 9], [9, 9]], [[10, 10], [10, 10]])).toEqual([0.9, 0.9]);
    const tollgate = [[880, 900, 890], [850, 870, 860], [905, 915, 925]];
    const floor = [[1000, 990, 1010], [1020, 1000, 1030], [980, 1000, 990]];
    const [low, high] = ratioInterval(tollgate, floor);
    const ratio = sideLevel(tollgate) / sideLevel(floor);
    expect(low).toBeLessThan(ratio);
    expect(high).toBeGreaterThan(ratio);
  });

  it('is wide when the processes of a side keep levels apart, however steady each one is', () => {
    const floor = [[1000, 1000, 1000], [1000, 1000, 1000], [1000, 1000, 1000]];
    // The same runs, once spread within each process and once as three steady process levels.
    const spreadWithin = [[800, 900, 1000], [800, 900, 1000], [800, 900, 1000]];
    const levelsApart = [[800, 800, 800], [900, 900, 900], [1000, 1000, 1000]];
    const width = ([low, high]: [number, number]) => high - low;
    expect(width(ratioInterval(levelsApart, floor))).toBeGreaterThanOrEqual(0.15);
    expect(width(ratioInterval(levelsApart, floor))).toBeGreaterThan(width(ratioInterval(spreadWithin, floor)));
  });

  it('gives the same interval for the same numbers (a seeded resampling)', () => {
    const a = [[1, 2, 3], [2, 3, 4]];
    const b = [[3, 3, 2], [2, 4, 4]];
    expect(ratioInterval(a, b)).toEqual(ratioInterval(a, b));
    expect(ratioInterval(a, b, { seed: 2 })).not.toEqual(ratioInterval(a, b));
  });
});

describe('review times from the server\'s log', () => {
  const review = (durationMs: unknown) => JSON.stringify({ level: 30, msg: 'review', uid: 'u', durationMs });

  it('takes durationMs from review lines only, sorted', () => {
    const log = [review(0.012), '{"level":30,"msg":"tollgate is serving","durationMs":9}', review(0.004), review('0.5'), review(0.009), ''].join('\n');
    const server = { logSince: () => log } as unknown as ServerProcess;
    expect(reviewDurations(server, 0)).toEqual([0.004, 0.009, 0.012]);
  });

  it('reads a log from an offset, and a run\'s lines only', async () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'tollgate-bench-log-')), 'server.log');
    writeFileSync(file, `${review(0.5)}\n`);
    const server = { logSize: () => Buffer.byteLength(`${review(0.5)}\n`), logSince: (offset: number) => readFrom(file, offset) } as unknown as ServerProcess;
    expect(readFrom(file, 3)).toBe(`${review(0.5)}\n`.slice(3));
    const result = await withReviewDurations(server, async () => {
      appendFileSync(file, `${review(0.002)}\n${review(0.001)}\n`);
      return { completed: 2 };
    });
    expect(result).toEqual({ completed: 2, serverMs: [0.001, 0.002] });
    // The floor's log is not read: it logs no reviews.
    const unread = await withReviewDurations({} as ServerProcess, async () => ({ completed: 1 }), false);
    expect(unread).toEqual({ completed: 1, serverMs: [] });
  });

  it('averages the middle 80%, so that a stalled review does not sway it', () => {
    expect(trimmedMean([1, 2, 2, 2, 2, 2, 2, 2, 2, 100])).toBe(2);
    expect(trimmedMean([0.011, 0.012])).toBeCloseTo(0.0115, 10);
    expect(trimmedMean([])).toBeNaN();
  });
});

describe('BenchContext.alternateExecutions', () => {
  it('runs every process of every side each round, turn about, and merges each side\'s results so that neighbours pair up', async () => {
    const ctx = new BenchContext({} as never, {} as never, '', new Report(false), undefined);
    const named = (label: string) => ({ label }) as ServerProcess;
    const [floor, floor2, tollgate, tollgate2] = [named('F1'), named('F2'), named('T1'), named('T2')];
    ctx.floor = floor;
    ctx.tollgate = tollgate;
    const groups = new Map([[floor, [floor, floor2]], [tollgate, [tollgate, tollgate2]]]);
    const calls: string[] = [];
    const results = await ctx.alternateExecutions(groups, 2, async (server) => {
      calls.push(server.label);
      return { errors: 0, run: `${server.label}@${calls.length}` };
    });
    // Each round runs all four, the second in the reverse order: a floor run always sits beside its tollgate.
    expect(calls).toEqual(['F1', 'T1', 'F2', 'T2', 'T2', 'F2', 'T1', 'F1']);
    expect(results.get(floor)?.map((runs) => runs.map((r) => r.run))).toEqual([['F1@1', 'F1@8'], ['F2@3', 'F2@6']]);
    expect(results.get(tollgate)?.map((runs) => runs.map((r) => r.run))).toEqual([['T1@2', 'T1@7'], ['T2@4', 'T2@5']]);
    expect([...results.keys()]).toEqual([floor, tollgate]);
  });

  it('summarises a side by its processes\' levels, with the interval of the ratio', () => {
    const ctx = new BenchContext({} as never, {} as never, '', new Report(false), undefined);
    const [floor, tollgate] = [{ label: 'F' } as ServerProcess, { label: 'T' } as ServerProcess];
    ctx.floor = floor;
    ctx.tollgate = tollgate;
    const results = new Map([
      [floor, [[{ v: 1000 }, { v: 1100 }, { v: 1000 }], [{ v: 1200 }, { v: 1200 }, { v: 5000 }]]],
      [tollgate, [[{ v: 900 }, { v: 900 }, { v: 950 }], [{ v: 1000 }, { v: 990 }, { v: 1010 }]]],
    ]);
    expect(ctx.levels(results, (r) => r.v)).toEqual({ floor: 1100, tollgate: 950 });
    const { interval, baselineInterval } = ctx.intervals(results, (r) => r.v);
    expect(baselineInterval).toBeUndefined();
    expect(interval?.[0]).toBeLessThan(950 / 1100);
    expect(interval?.[1]).toBeGreaterThan(950 / 1100);
  });
});

describe('saturate', () => {
  it('runs as long as it is asked, under a second too (autocannon ends a run only at a sample, one a second by default)', async () => {
    const server = http.createServer((_request, response) => response.end('{}'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const target = { label: 'plain', url: new URL(`http://127.0.0.1:${port}`), cpuSeconds: () => 0, rssBytes: () => 0 } as unknown as ServerProcess;
    try {
      const started = performance.now();
      const run = await saturate(target, 'validate', standardBodies()[0]!, { connections: 2, seconds: 0.2 });
      const tookMs = performance.now() - started;
      expect(run.completed).toBeGreaterThan(0);
      expect(run.errors).toBe(0);
      // Asked for 0.2 s: it took a whole second before.
      expect(tookMs).toBeLessThan(900);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
