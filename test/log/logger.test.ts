// The review log line's timestamp: ISO 8601 like pino's isoTime, formatted once per millisecond.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { cachedIsoTime } from '../../src/log/logger.js';
import { memoryLogger } from '../helpers/logs.js';

describe('cachedIsoTime', () => {
  it('gives what pino.stdTimeFunctions.isoTime gives for the same instant', () => {
    let now = Date.UTC(2026, 10, 25, 13, 45, 12, 345);
    const time = cachedIsoTime(() => now);
    expect(time()).toBe(`,"time":"2026-11-25T13:45:12.345Z"`);
    now += 1;
    const realNow = Date.now;
    Date.now = () => now;
    try {
      expect(time()).toBe(pino.stdTimeFunctions.isoTime());
    } finally {
      Date.now = realNow;
    }
  });

  it('moves on as soon as the millisecond does, and not before', () => {
    let now = 1_000;
    const time = cachedIsoTime(() => now);
    const first = time();
    expect(time()).toBe(first);
    now = 1_001;
    expect(time()).not.toBe(first);
    expect(time()).toContain('1970-01-01T00:00:01.001Z');
  });
});

describe('createLogger', () => {
  it('writes JSON lines with the ISO time, the service and the fields given', () => {
    const { logger, lines } = memoryLogger();
    logger.info({ uid: 'u-1', subResource: undefined }, 'review');
    const [line] = lines();
    expect(line).toMatchObject({ level: 30, service: 'tollgate', uid: 'u-1', msg: 'review' });
    expect(typeof line?.time).toBe('string');
    expect(Date.parse(line?.time as string)).not.toBeNaN();
    // A field left undefined is left out of the line, not written as null.
    expect(line).not.toHaveProperty('subResource');
  });
});
