// The review line's fast path writes exactly the line pino would write for the same fields.
import fc from 'fast-check';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { AdmissionRequest } from '../../src/admission/types.js';
import type { ReviewOutcome } from '../../src/engine/engine.js';
import { reviewLog, reviewLogMembers } from '../../src/http/review-log.js';
import { infoLines, jsonStringContent } from '../../src/log/fast-line.js';
import { createLogger, type Logger } from '../../src/log/logger.js';

/** A logger made by createLogger, its time fixed, writing into an array. */
function capture(level: pino.LevelWithSilent = 'info'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger({ level, destination: { write: (line: string) => lines.push(line) } });
  (logger as unknown as Record<symbol, unknown>)[pino.symbols.timeSym] = () => ',"time":"2026-12-02T10:00:00.000Z"';
  return { logger, lines };
}

/** What pino itself writes for these fields (undefined ones left out). */
function pinoLine(fields: Record<string, unknown>, message: string): string {
  const { logger, lines } = capture();
  logger.info(fields, message);
  return lines[0]!;
}

/** A string pino and JSON.stringify escape alike: no lone surrogate (JSON.stringify escapes those; pino leaves them raw). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const wellFormed = fc.string({ unit: 'binary', maxLength: 150 }).filter((s) => !LONE_SURROGATE.test(s));
const anyString = fc.string({ unit: 'binary', maxLength: 150 });

function request(fields: { uid: string; name: string; namespace: string; group: string; subResource: string; generateName?: string | undefined; dryRun: boolean }): AdmissionRequest {
  return {
    uid: fields.uid,
    kind: { group: fields.group, version: 'v1', kind: 'Pod' },
    resource: { group: fields.group, version: 'v1', resource: 'pods' },
    subResource: fields.subResource,
    name: fields.name,
    namespace: fields.namespace,
    operation: 'CREATE',
    dryRun: fields.dryRun,
    object: { apiVersion: 'v1', kind: 'Pod', metadata: fields.generateName === undefined ? {} : { generateName: fields.generateName } },
    oldObject: null,
  } as AdmissionRequest;
}

function outcome(allowed: boolean, message: string, warnings: number): ReviewOutcome {
  return {
    verdict: allowed ? { allowed, warnings: Array.from({ length: warnings }, () => 'w') } : { allowed, message, code: 403, warnings: Array.from({ length: warnings }, () => 'w') },
    policies: [],
  };
}

/** One line through infoLines, written at once. */
function writeLine(logger: Logger, message: string, members: string): void {
  const lines = infoLines(logger, message);
  lines.add(members);
  lines.flush();
}

describe('infoLines', () => {
  it('writes what logger.info writes, byte for byte, for any well-formed strings', () => {
    fc.assert(
      fc.property(wellFormed, wellFormed, fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), (a, message, n, x) => {
        const { logger, lines } = capture();
        writeLine(logger, message, `,"a":${JSON.stringify(a)},"n":${n},"x":${x}`);
        expect(lines).toEqual([pinoLine({ a, n, x }, message)]);
      }),
      { numRuns: 500 },
    );
  });

  it('writes valid JSON for any string, lone surrogates too', () => {
    fc.assert(
      fc.property(anyString, anyString, (a, message) => {
        const { logger, lines } = capture();
        writeLine(logger, message, `,"a":${JSON.stringify(a)}`);
        expect(JSON.parse(lines[0]!)).toMatchObject({ level: 30, service: 'tollgate', a, msg: message });
        expect(lines[0]!.endsWith('}\n')).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('writes nothing when info is off, and a child logger\'s bindings when it has them', () => {
    const quiet = capture('warn');
    writeLine(quiet.logger, 'review', ',"a":1');
    expect(quiet.lines).toEqual([]);
    const parent = capture();
    const child = parent.logger.child({ policy: 'p' });
    writeLine(child, 'review', ',"a":1');
    expect(JSON.parse(parent.lines[0]!)).toMatchObject({ service: 'tollgate', policy: 'p', a: 1, msg: 'review' });
  });

  it('writes the lines of a batch together, in one write, at the flush, and nothing when none was added', () => {
    const { logger, lines } = capture();
    const batch = infoLines(logger, 'review');
    for (let i = 0; i < 3; i++) batch.add(`,"i":${i}`);
    expect(lines).toEqual([]);
    batch.flush();
    batch.flush();
    expect(lines).toHaveLength(1);
    expect(lines[0]!.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { i: number; msg: string })).toMatchObject([
      { i: 0, msg: 'review' },
      { i: 1, msg: 'review' },
      { i: 2, msg: 'review' },
    ]);
  });

  it('stamps a batch with the time of its first line, and the next batch with its own', () => {
    const { logger, lines } = capture();
    let now = 0;
    (logger as unknown as Record<symbol, unknown>)[pino.symbols.timeSym] = () => `,"time":${++now}`;
    const batch = infoLines(logger, 'review');
    batch.add(',"i":0');
    batch.add(',"i":1');
    batch.flush();
    batch.add(',"i":2');
    batch.flush();
    const times = lines.join('').split('\n').filter(Boolean).map((line) => (JSON.parse(line) as { time: number }).time);
    expect(times).toEqual([1, 1, 2]);
  });

  it('writes a batch early once it is long, so that one write stays within the output\'s buffer', () => {
    const { logger, lines } = capture();
    const batch = infoLines(logger, 'review');
    const filler = 'x'.repeat(1000);
    for (let i = 0; i < 40; i++) batch.add(`,"i":${i},"f":"${filler}"`);
    expect(lines.length).toBeGreaterThan(1);
    expect(Math.max(...lines.map((chunk) => chunk.length))).toBeLessThan(20 * 1024);
    batch.flush();
    expect(lines.join('').split('\n').filter(Boolean).map((line) => (JSON.parse(line) as { i: number }).i)).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });

  it('falls back to info() on a logger that is not pino\'s own', () => {
    const calls: unknown[][] = [];
    const fake = { info: (...args: unknown[]) => calls.push(args), levelVal: 30 } as unknown as Logger;
    writeLine(fake, 'review', ',"a":1,"b":"x"');
    expect(calls).toEqual([[{ a: 1, b: 'x' }, 'review']]);
  });
});

describe('jsonStringContent', () => {
  it('is what JSON.stringify puts between the quotes, for any string', () => {
    fc.assert(
      fc.property(anyString, (s) => {
        expect(`"${jsonStringContent(s)}"`).toBe(JSON.stringify(s));
      }),
      { numRuns: 2000 },
    );
    for (const s of ['a"b', 'a\\b', '\u0000', '\u001f', '\ud800', '\udc00x', '😀', 'ünïcode']) expect(`"${jsonStringContent(s)}"`).toBe(JSON.stringify(s));
  });
});

describe('the review line', () => {
  const fields = fc.record({
    uid: wellFormed,
    name: wellFormed,
    namespace: wellFormed,
    group: wellFormed,
    subResource: wellFormed,
    generateName: fc.option(wellFormed, { nil: undefined }),
    dryRun: fc.boolean(),
  });

  it('is the line pino writes for the same fields, whatever the request and verdict hold', () => {
    fc.assert(
      fc.property(fields, fc.boolean(), wellFormed, fc.nat(3), fc.double({ min: 0, max: 30_000, noNaN: true }), (f, allowed, message, warnings, durationMs) => {
        const req = request(f);
        const out = outcome(allowed, message, warnings);
        const { logger, lines } = capture();
        const log = reviewLog(logger);
        log.add('validate', req, out, durationMs);
        log.flush();
        const name = f.name || (f.generateName !== undefined ? `${f.generateName}*` : '');
        const expected = pinoLine(
          {
            uid: f.uid,
            endpoint: 'validate',
            kind: `${f.group ? `${f.group}/` : ''}v1/Pod`,
            subResource: f.subResource || undefined,
            resource: `${f.namespace ? `${f.namespace}/` : ''}${name}`,
            operation: 'CREATE',
            dryRun: f.dryRun ? true : undefined,
            verdict: allowed ? 'allowed' : 'denied',
            reason: allowed ? undefined : message.slice(0, 1024),
            warnings: warnings > 0 ? warnings : undefined,
            policies: 0,
            durationMs: Math.round(durationMs * 1000) / 1000,
          },
          'review',
        );
        expect(lines).toEqual([expected]);
      }),
      { numRuns: 500 },
    );
  });

  it('cuts each name a client wrote to 256 characters: a forged review cannot make its line megabytes long', () => {
    const long = (c: string) => c.repeat(1_000_000);
    const req = request({ uid: 'u', name: '', namespace: long('n'), group: long('g'), subResource: long('s'), generateName: long('w'), dryRun: false });
    const members = reviewLogMembers('mutate', req, outcome(true, '', 0), 1);
    expect(members.length).toBeLessThan(2_000);
    const line = JSON.parse(`{${members.slice(1)}}`) as { resource: string; subResource: string; kind: string };
    expect(line.resource).toBe(`${'n'.repeat(256)}/${'w'.repeat(256)}*`);
    expect(line.subResource).toBe('s'.repeat(256));
    expect(line.kind).toBe('g'.repeat(256));
    const named = reviewLogMembers('mutate', request({ uid: 'u', name: long('x'), namespace: '', group: '', subResource: '', dryRun: false }), outcome(true, '', 0), 1);
    expect((JSON.parse(`{${named.slice(1)}}`) as { resource: string }).resource).toBe('x'.repeat(256));
  });

  it('cuts a long denial reason to 1,024 characters', () => {
    const members = reviewLogMembers('mutate', request({ uid: 'u', name: 'n', namespace: '', group: '', subResource: '', dryRun: false }), outcome(false, 'x'.repeat(5000), 0), 1);
    expect((JSON.parse(`{${members.slice(1)}}`) as { reason: string }).reason).toHaveLength(1024);
  });
});
