// The deep copy a mutating policy edits. The object under review is JSON data as parsed, so a
// plain walk copies it several times faster than structuredClone (which serialises and
// deserialises), and iteratively, so no nesting depth overflows the stack.
import { ErrorCodes, TollgateError } from '../errors.js';

/** An object made by `{}` or JSON.parse: Object.prototype its prototype (not null, not a class's). */
export function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}

function isPlain(value: object): boolean {
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null || Array.isArray(value);
}

function emptyLike(value: object): Record<string, unknown> | unknown[] {
  if (Array.isArray(value)) return new Array<unknown>(value.length);
  return Object.getPrototypeOf(value) === null ? (Object.create(null) as Record<string, unknown>) : {};
}

/** Objects a policy's output may hold before copying it is refused: far above any real object (a 3 MiB pod holds about 100,000). */
export const MAX_OUTPUT_OBJECTS = 1_000_000;

/** Marks, on the copy stack, where a checked walk leaves an object's subtree. */
const LEAVE = Symbol('leave');

/** Path depth past which the ancestors are kept in a set rather than searched in a list. */
const ANCESTORS_IN_A_LIST = 16;

/**
 * The objects on the path from the root, to find a cycle: a short list while the path is short,
 * as most objects are shallow (a set for each copy of a few annotations was most of its cost), and a
 * set once it is deep, so that a deeply nested object costs no more than a set would.
 */
class Ancestors {
  private readonly list: object[] = [];
  private set: Set<object> | undefined;

  enter(object: object): void {
    if (this.set) this.set.add(object);
    else if (this.list.push(object) > ANCESTORS_IN_A_LIST) this.set = new Set(this.list);
  }

  /** Leaves the last object entered. */
  leave(object: object): void {
    if (this.set) this.set.delete(object);
    else this.list.pop();
  }

  has(object: object): boolean {
    return this.set ? this.set.has(object) : this.list.includes(object);
  }
}

function badOutput(message: string): TollgateError {
  return new TollgateError(ErrorCodes.TG_ERR_POLICY_BAD_RESULT, message);
}

/**
 * The copy of one member (`key`) or element (`index`) of an object being copied: itself when it
 * is a primitive, else a fresh container whose filling is queued on `pending`. In a checked walk
 * (`path` given) a cycle and a BigInt, which JSON cannot carry, are refused.
 */
function copyOfChild(child: unknown, at: string | number, pending: Array<object | typeof LEAVE>, path: Ancestors | undefined): unknown {
  if (typeof child !== 'object' || child === null) {
    if (path && typeof child === 'bigint') throw badOutput(`returned request.object holding a BigInt at ${where(at)}, which JSON cannot carry`);
    return child;
  }
  if (!isPlain(child)) return structuredClone(child);
  if (path?.has(child)) throw badOutput(`returned request.object with a cycle (${where(at)} contains itself)`);
  const copy = emptyLike(child);
  pending.push(child, copy);
  return copy;
}

function where(at: string | number): string {
  return typeof at === 'number' ? `element ${at}` : `member "${at}"`;
}

function walk<T>(value: T, checked: boolean): T {
  if (checked && typeof value === 'bigint') throw badOutput('returned a BigInt, which JSON cannot carry');
  if (typeof value !== 'object' || value === null) return value;
  if (!isPlain(value)) return structuredClone(value);
  const root = emptyLike(value);
  // Pairs of (source, its fresh copy) still to fill; in a checked walk, also LEAVE markers.
  const pending: Array<object | typeof LEAVE> = [value, root];
  // Checked: the objects on the path from the root, to find a cycle (an object shared by two
  // members is copied twice, as JSON would), and a count that bounds what a shared one can cost.
  const path = checked ? new Ancestors() : undefined;
  let objects = 0;
  while (pending.length > 0) {
    const target = pending.pop() as Record<string, unknown> | typeof LEAVE;
    if (target === LEAVE) {
      path!.leave(pending.pop() as object);
      continue;
    }
    const source = pending.pop() as Record<string, unknown>;
    if (path) {
      if (++objects > MAX_OUTPUT_OBJECTS) throw badOutput(`the object holds more than ${MAX_OUTPUT_OBJECTS} objects and arrays`);
      path.enter(source);
      pending.push(source, LEAVE);
    }
    if (Array.isArray(source)) {
      // Elements as JSON has them: a hole or an undefined element is null (a policy may leave
      // either; the diff would otherwise patch a hole as a removal, or leave out its value).
      const elements = target as unknown as unknown[];
      for (let i = 0; i < source.length; i++) elements[i] = source[i] === undefined ? null : copyOfChild(source[i], i, pending, path);
      continue;
    }
    const keys = Object.keys(source);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      const copy = copyOfChild(source[key], key, pending, path);
      // A `__proto__` key is data here; assignment would set the copy's prototype instead.
      if (key === '__proto__') Object.defineProperty(target, key, { value: copy, enumerable: true, writable: true, configurable: true });
      else target[key] = copy;
    }
  }
  return root as T;
}

/**
 * A deep copy of JSON-shaped data: plain objects, arrays and primitives. Anything else found
 * inside (a Date or Map from a YAML reader, say) is copied with structuredClone. For data as
 * parsed, which can hold no cycle.
 */
export function copyJson<T>(value: T): T {
  return walk(value, false);
}

/**
 * copyJson for what a policy produced, which may refer to itself: a cycle is refused (it would
 * never end) and so is more than MAX_OUTPUT_OBJECTS objects (members shared many times over).
 */
export function copyPolicyOutput<T>(value: T): T {
  return walk(value, true);
}

/**
 * Whether `value`, what a policy left, is the same JSON as `source`, data as parsed: equal
 * primitives, and plain objects and arrays with the same members. Anything else counts as
 * different. The walk follows `source`, which is finite and acyclic, so it ends even when `value`
 * holds a cycle, and costs no more than one pass over `source`.
 */
export function sameJson(value: unknown, source: unknown): boolean {
  const pending: unknown[] = [value, source];
  while (pending.length > 0) {
    const expected = pending.pop();
    const actual = pending.pop();
    if (actual === expected) continue;
    if (typeof actual !== 'object' || actual === null || typeof expected !== 'object' || expected === null) return false;
    if (Array.isArray(expected)) {
      if (!Array.isArray(actual) || Object.getPrototypeOf(actual) !== Array.prototype || actual.length !== expected.length) return false;
      for (let i = 0; i < expected.length; i++) pending.push(actual[i], expected[i]);
      continue;
    }
    if (Array.isArray(actual) || Object.getPrototypeOf(actual) !== Object.prototype || Object.getPrototypeOf(expected) !== Object.prototype) return false;
    const keys = Object.keys(expected);
    if (Object.keys(actual).length !== keys.length) return false;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      // Enumerable, as JSON and the copy see members: one made non-enumerable is gone from the output.
      if (!Object.prototype.propertyIsEnumerable.call(actual, key)) return false;
      pending.push((actual as Record<string, unknown>)[key], (expected as Record<string, unknown>)[key]);
    }
  }
  return true;
}
