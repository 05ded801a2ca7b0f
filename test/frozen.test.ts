// Freezing data all the way down, and telling frozen data (and a frozen patch) from the rest.
import { describe, expect, it } from 'vitest';
import { deepFreeze, isDeeplyFrozen, isFrozenPatch } from '../src/frozen.js';

describe('deepFreeze', () => {
  it('freezes every object inside, shared or cyclic, and inside an object that was frozen already', () => {
    const shared = { a: [1, { b: 2 }] };
    const cyclic: Record<string, unknown> = { shared, again: shared };
    cyclic.self = cyclic;
    const outer = Object.freeze({ inner: { c: 3 } });
    expect(deepFreeze(cyclic)).toBe(cyclic);
    deepFreeze(outer);
    expect(isDeeplyFrozen(cyclic)).toBe(true);
    expect(Object.isFrozen((shared.a[1] as object))).toBe(true);
    expect(Object.isFrozen(outer.inner)).toBe(true);
  });
});

describe('isFrozenPatch', () => {
  const op = (extra: Record<string, unknown> = {}) => ({ op: 'add', path: '/a', value: { b: 'c' }, ...extra });
  it('takes a frozen list of frozen operations of the four members, with frozen data as values', () => {
    expect(isFrozenPatch(deepFreeze([op()]))).toBe(true);
    expect(isFrozenPatch(deepFreeze([{ op: 'move', from: '/a', path: '/b' }]))).toBe(true);
  });
  it.each([
    ['a list that is not frozen', [deepFreeze(op())]],
    ['a value that is not frozen', Object.freeze([Object.freeze(op())])],
    ['an operation with a member of its own beyond the four', deepFreeze([op({ note: 'x' })])],
    ['an operation whose members are inherited', deepFreeze([Object.create(op())])],
    ['a Date as a value, whose time can be set though it is frozen', deepFreeze([op({ value: new Date(0) })])],
    ['something other than a list', deepFreeze({ 0: op() })],
  ])('refuses %s', (_, patch) => {
    expect(isFrozenPatch(patch)).toBe(false);
  });
});
