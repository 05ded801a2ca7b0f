import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_OUTPUT_OBJECTS, copyJson, copyPolicyOutput, sameJson } from '../../src/engine/copy.js';

/** Every object and array reachable from `value`. */
function containers(value: unknown, found = new Set<object>()): Set<object> {
  if (typeof value === 'object' && value !== null && !found.has(value)) {
    found.add(value);
    for (const child of Object.values(value)) containers(child, found);
  }
  return found;
}

describe('copyJson', () => {
  it('copies any JSON value to an equal value that shares no object or array with it', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const copy = copyJson(value);
        expect(copy).toStrictEqual(value);
        const originals = containers(value);
        for (const inner of containers(copy)) expect(originals.has(inner)).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps key order, including integer-like keys', () => {
    const value = JSON.parse('{"b":1,"2":2,"a":{"z":1,"1":2},"0":[3,{"y":null}]}') as unknown;
    expect(JSON.stringify(copyJson(value))).toBe(JSON.stringify(value));
  });

  it('copies a `__proto__` key as data, leaving the prototype alone', () => {
    const value = JSON.parse('{"a":{"__proto__":{"polluted":true}}}') as { a: Record<string, unknown> };
    const copy = copyJson(value);
    expect(Object.keys(copy.a)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(copy.a)).toBe(Object.prototype);
    expect((copy.a as { polluted?: unknown }).polluted).toBeUndefined();
    expect(Object.getOwnPropertyDescriptor(copy.a, '__proto__')?.value).toEqual({ polluted: true });
    expect(Object.getOwnPropertyDescriptor(copy.a, '__proto__')?.value).not.toBe(Object.getOwnPropertyDescriptor(value.a, '__proto__')?.value);
  });

  it('copies objects nested 100,000 levels deep without overflowing the stack', () => {
    // Alternating objects and arrays: { f: [ { f: [ ... ] } ] }
    const root: Record<string, unknown> = {};
    let node: Record<string, unknown> = root;
    for (let i = 0; i < 50_000; i++) {
      const next: Record<string, unknown> = {};
      node.f = [next];
      node = next;
    }
    node.leaf = 'end';
    const copy = copyJson(root);
    let a: Record<string, unknown> = root;
    let b: Record<string, unknown> = copy;
    let depth = 0;
    while (Array.isArray(a.f)) {
      expect(Array.isArray(b.f) && b.f !== a.f && b !== a).toBe(true);
      a = (a.f as Record<string, unknown>[])[0]!;
      b = (b.f as Record<string, unknown>[])[0]!;
      depth += 2;
    }
    expect(b.leaf).toBe('end');
    expect(depth).toBe(100_000);
  });

  it('keeps null-prototype objects null-prototype, and copies values that are not plain JSON with structuredClone', () => {
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { a: 1 });
    const when = new Date('2026-01-02T03:04:05Z');
    const copy = copyJson({ bare, when, list: [new Map([['k', 'v']])] });
    expect(Object.getPrototypeOf(copy.bare)).toBeNull();
    expect(copy.bare).not.toBe(bare);
    expect(copy.when).toBeInstanceOf(Date);
    expect(copy.when).not.toBe(when);
    expect(copy.when.getTime()).toBe(when.getTime());
    expect(copy.list[0]).toBeInstanceOf(Map);
    expect(copy.list[0]?.get('k')).toBe('v');
  });

  it('returns primitives as they are', () => {
    for (const value of [null, 0, -1.5, '', 'x', true, false]) expect(copyJson(value)).toBe(value);
  });
});

describe('copyPolicyOutput', () => {
  it('refuses a BigInt anywhere, which JSON cannot carry, naming where it is; a cycle through an array element too', () => {
    expect(() => copyPolicyOutput(10n)).toThrow(/BigInt/);
    expect(() => copyPolicyOutput({ a: [1, { b: 2n }] })).toThrow(/BigInt at member "b"/);
    expect(() => copyPolicyOutput({ a: [0, 1n] })).toThrow(/BigInt at element 1/);
    const list: unknown[] = [1];
    list.push(list);
    expect(() => copyPolicyOutput({ list })).toThrow(/cycle \(element 1 contains itself\)/);
  });

  it('refuses an object that contains itself, at any depth, instead of copying for ever', () => {
    const selfish: Record<string, unknown> = { a: 1 };
    selfish.self = selfish;
    expect(() => copyPolicyOutput(selfish)).toThrow(/cycle \(member "self" contains itself\)/);
    const deep: Record<string, unknown> = { spec: { containers: [{ name: 'c' }] } };
    ((deep.spec as { containers: Array<Record<string, unknown>> }).containers[0]!).back = deep.spec;
    expect(() => copyPolicyOutput(deep)).toThrow(/cycle \(member "back" contains itself\)/);
    // Deeper than the ancestors kept in a list, and below that depth again, beside siblings that are fine.
    for (const depth of [5, 40, 1000]) {
      const root: Record<string, unknown> = { sibling: { x: [1, { y: 2 }] } };
      let at = root;
      for (let i = 0; i < depth; i++) at = (at.next = { i, leaf: { i } }) as Record<string, unknown>;
      at.loop = root.next;
      expect(() => copyPolicyOutput(root)).toThrow(/cycle \(member "loop" contains itself\)/);
      delete at.loop;
      expect(copyPolicyOutput(root)).toEqual(root);
    }
  });

  it('copies a member shared by two others twice, as JSON would, into copies that share nothing', () => {
    const env = [{ name: 'A', value: '1' }];
    const source = { x: { env }, y: { env } };
    const copy = copyPolicyOutput(source);
    expect(copy).toEqual(JSON.parse(JSON.stringify(source)));
    expect(copy.x.env).not.toBe(env);
    expect(copy.x.env).not.toBe(copy.y.env);
  });

  it('refuses, in bounded time, members shared so many times over that the copy would hold millions of objects', () => {
    let node: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 30; i++) node = { a: node, b: node };
    const error = (() => {
      try {
        copyPolicyOutput(node);
      } catch (err) {
        return err as Error;
      }
      return undefined;
    })();
    expect(error?.message).toBe(`the object holds more than ${MAX_OUTPUT_OBJECTS} objects and arrays`);
    // A bad answer from the policy, like a cycle; not a review nested too deeply.
    expect((error as { code?: string } | undefined)?.code).toBe('TG_ERR_POLICY_BAD_RESULT');
  });
});

describe('sameJson', () => {
  const source = () => ({ name: 'c', image: 'nginx:1.27', ports: [{ containerPort: 80 }], env: [], limits: { cpu: '1' }, flag: false, n: 0, none: null });

  it('is true for an equal copy, whatever the order of its members', () => {
    expect(sameJson(copyJson(source()), source())).toBe(true);
    const reordered = Object.fromEntries(Object.entries(source()).reverse());
    expect(sameJson(reordered, source())).toBe(true);
    expect(sameJson('x', 'x')).toBe(true);
  });

  it('is false for any difference a patch would carry, at any depth', () => {
    const changes: Array<(c: ReturnType<typeof source>) => void> = [
      (c) => (c.image = 'nginx:1.28'),
      (c) => (c.ports[0]!.containerPort = 81),
      (c) => c.ports.push({ containerPort: 443 }),
      (c) => c.ports.pop(),
      (c) => delete (c as Partial<typeof c>).name,
      (c) => Object.assign(c, { added: 'x' }),
      (c) => (c.limits = { cpu: '1', memory: '1Gi' } as typeof c.limits),
      (c) => (c.flag = 0 as unknown as boolean),
      (c) => (c.none = undefined as unknown as null),
      (c) => (c.n = '0' as unknown as number),
    ];
    for (const change of changes) {
      const edited = copyJson(source());
      change(edited);
      expect(sameJson(edited, source())).toBe(false);
    }
  });

  it('is false for what JSON would not keep as it is: undefined members, holes, NaN, a Date, an array for an object', () => {
    expect(sameJson({ a: undefined }, {})).toBe(false);
    expect(sameJson({ a: undefined, b: 1 }, { c: undefined, b: 1 })).toBe(false);
    expect(sameJson(new Array(1), [null])).toBe(false);
    expect(sameJson(Number.NaN, Number.NaN)).toBe(false);
    expect(sameJson(new Date(0), '1970-01-01T00:00:00.000Z')).toBe(false);
    expect(sameJson({ length: 0 }, [])).toBe(false);
    expect(sameJson([], {})).toBe(false);
    expect(sameJson(Object.create(null), {})).toBe(false);
    // An array posing as an object, and a member hidden from JSON while another takes its place.
    expect(sameJson(Object.setPrototypeOf([], Object.prototype), {})).toBe(false);
    const hidden: Record<string, string> = { app: 'web', team: 'payments' };
    Object.defineProperty(hidden, 'app', { enumerable: false });
    expect(JSON.stringify(hidden)).toBe('{"team":"payments"}');
    expect(sameJson(hidden, { app: 'web' })).toBe(false);
  });

  it('ends, with false, on a value that contains itself, walking no more than the source', () => {
    const selfish: Record<string, unknown> = { a: 1 };
    selfish.self = selfish;
    let deep: Record<string, unknown> = { a: 1, self: null };
    for (let i = 0; i < 100_000; i++) deep = { a: 1, self: deep };
    expect(sameJson(selfish, deep)).toBe(false);
    // Equal to the depth of the source, then different: found without overflowing the stack.
    expect(sameJson(copyJson(deep), deep)).toBe(true);
  });
});
