// Data that cannot change under whoever holds it: freezing it all the way down, and telling
// whether it is (a policy's frozen patch is neither copied nor encoded again).
import type { JsonPatchOperation } from './admission/types.js';

/** Freezes `value` and everything in it (each object once, so shared members and cycles end); returns it. */
export function deepFreeze<T>(value: T): T {
  const pending: unknown[] = [value];
  const seen = new Set<object>();
  while (pending.length > 0) {
    const next = pending.pop();
    if (typeof next !== 'object' || next === null || seen.has(next)) continue;
    seen.add(next);
    Object.freeze(next);
    for (const child of Object.values(next)) pending.push(child);
  }
  return value;
}

/**
 * True when `value` is a primitive, or JSON-shaped data (plain objects and arrays) frozen all the
 * way down. Anything else (a Date, whose time can be set though it is frozen; an object with some
 * other prototype) is not taken as unchangeable. Each object is looked at once.
 */
export function isDeeplyFrozen(value: unknown): boolean {
  const pending = [value];
  const seen = new Set<object>();
  while (pending.length > 0) {
    const next = pending.pop();
    if (typeof next !== 'object' || next === null || seen.has(next)) continue;
    const prototype = Object.getPrototypeOf(next) as unknown;
    if (!Object.isFrozen(next) || (prototype !== Object.prototype && prototype !== Array.prototype)) return false;
    seen.add(next);
    for (const child of Object.values(next as object)) pending.push(child);
  }
  return true;
}

const OPERATION_MEMBERS = new Set(['op', 'path', 'value', 'from']);

/**
 * A patch that can be kept as it is: a frozen list of frozen operations with no members but the
 * four (so that what is sent is what was checked), whose values are frozen data.
 */
export function isFrozenPatch(patch: unknown): patch is readonly JsonPatchOperation[] {
  if (!Array.isArray(patch) || !Object.isFrozen(patch) || Object.getPrototypeOf(patch) !== Array.prototype) return false;
  return patch.every(
    (operation: unknown) =>
      typeof operation === 'object' &&
      operation !== null &&
      Object.isFrozen(operation) &&
      Object.getPrototypeOf(operation) === Object.prototype &&
      Object.keys(operation).every((key) => OPERATION_MEMBERS.has(key)) &&
      isDeeplyFrozen((operation as JsonPatchOperation).value),
  );
}
