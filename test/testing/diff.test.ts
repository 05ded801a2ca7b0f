import { describe, expect, it } from 'vitest';
import { diffValues, stableJson } from '../../src/testing/diff.js';

describe('diffValues', () => {
  it('is empty for equal values, whatever their key order', () => {
    expect(diffValues({ a: 1, b: [1, { c: 2, d: 3 }] }, { b: [1, { d: 3, c: 2 }], a: 1 })).toBe('');
  });

  it('marks the expected line with - and the actual one with +, in that order', () => {
    expect(diffValues({ a: 1, b: 2 }, { a: 1, b: 3 })).toBe(['  {', '    "a": 1,', '-   "b": 2', '+   "b": 3', '  }'].join('\n'));
  });

  it('shows added and removed lines', () => {
    expect(diffValues(['x'], ['x', 'y'])).toBe(['  [', '-   "x"', '+   "x",', '+   "y"', '  ]'].join('\n'));
  });

  it('folds long unchanged stretches into ...', () => {
    const expected = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${String(i).padStart(2, '0')}`, i]));
    const lines = diffValues(expected, { ...expected, k10: 'changed' }).split('\n');
    expect(lines.filter((l) => l === '  ...')).toHaveLength(2);
    expect(lines).toContain('-   "k10": 10,');
    expect(lines).toContain('+   "k10": "changed",');
    expect(lines.length).toBeLessThan(12);
  });

  it('sorts keys for a stable rendering', () => {
    expect(stableJson({ b: 1, a: { d: 1, c: 2 } })).toBe('{\n  "a": {\n    "c": 2,\n    "d": 1\n  },\n  "b": 1\n}');
  });
});
