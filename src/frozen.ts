// Whether a value can change under whoever holds it: frozen, and everything in it frozen too.

/** True when `value` is a primitive, or an object that is frozen and holds only such values. */
export function isDeeplyFrozen(value: unknown): boolean {
  const pending = [value];
  while (pending.length > 0) {
    const next = pending.pop();
    if (typeof next !== 'object' || next === null) continue;
    if (!Object.isFrozen(next)) return false;
    for (const child of Object.values(next as object)) pending.push(child);
  }
  return true;
}
