// Arbitrary JSON-shaped objects whose strings are drawn from the characters and words that YAML's
// scanners, kubectl's document splitter and go-yaml's resolver treat specially: for properties of
// what is written as YAML and read back.
import fc from 'fast-check';

const TRICKY = fc.constantFrom(
  ...'aZ09_.-+:#?!&*|>\'"%@`,[]{}<=~\\/ \t\n\r\u0085\u00a0\u2028\u2029\ufeff\u007f\u009fxXoObBeE'.split(''),
  '---', '...', '<<', 'yes', 'null', '0x', '1_0', 'é', '😀',
);

/** Short strings of those pieces. */
export const trickyText = fc.array(TRICKY, { maxLength: 12 }).map((parts) => parts.join(''));

/**
 * Mapping keys: as trickyText, without `<<`, which kubectl reads as a key only quoted and
 * `tollgate check` refuses quoted (a quoted << misleads a reviewer).
 */
export const trickyKey = trickyText.filter((key) => key !== '<<');

/** Numbers JSON round-trips exactly: integers within float64's exact range, finite doubles, no -0. */
const jsonNumber = fc.oneof(
  fc.integer({ min: -(2 ** 53) + 1, max: 2 ** 53 - 1 }),
  fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e300, max: 1e300 }).filter((x) => !Object.is(x, -0)),
);

export const { jsonValue } = fc.letrec<{ jsonValue: unknown }>((tie) => ({
  jsonValue: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    trickyText,
    jsonNumber,
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('jsonValue'), { maxLength: 4 }),
    fc.dictionary(trickyKey, tie('jsonValue'), { maxKeys: 4 }),
  ),
}));

/** A ConfigMap-shaped object carrying arbitrary data (a Kubernetes object to any reader of manifests). */
export const objectWithData = fc.dictionary(trickyKey, jsonValue, { maxKeys: 5 }).map((data) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'q' }, data }));
