// A readable line diff of two JSON values (expected vs actual), for fixture failures.

/** Beyond this many lines on either side the diff is not computed; both values are shown instead. */
const MAX_DIFF_LINES = 2000;
/** Unchanged lines kept around each change. */
const CONTEXT_LINES = 3;

/** JSON with object keys sorted, so that key order never shows up as a difference. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return v;
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, (v as Record<string, unknown>)[k]]));
  }, 2) ?? 'undefined';
}

/**
 * `- expected` / `+ actual` lines with a little context, from the longest common subsequence of
 * the two values' lines. Empty when the values are equal.
 */
export function diffValues(expected: unknown, actual: unknown): string {
  const a = stableJson(expected).split('\n');
  const b = stableJson(actual).split('\n');
  if (a.join('\n') === b.join('\n')) return '';
  if (a.length > MAX_DIFF_LINES || b.length > MAX_DIFF_LINES) {
    return [...a.map((l) => `- ${l}`), ...b.map((l) => `+ ${l}`)].join('\n');
  }
  // lcs[i][j]: length of the longest common subsequence of a[i..] and b[j..].
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const lines: Array<{ mark: ' ' | '-' | '+'; text: string }> = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      lines.push({ mark: ' ', text: a[i++]! });
      j++;
    } else if (i < a.length && (j === b.length || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      lines.push({ mark: '-', text: a[i++]! });
    } else {
      lines.push({ mark: '+', text: b[j++]! });
    }
  }
  const near = lines.map((_, k) => lines.slice(Math.max(0, k - CONTEXT_LINES), k + CONTEXT_LINES + 1).some((l) => l.mark !== ' '));
  const out: string[] = [];
  lines.forEach((line, k) => {
    if (near[k]) out.push(`${line.mark} ${line.text}`);
    else if (near[k - 1] || k === 0) out.push('  ...');
  });
  return out.join('\n');
}
