import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseManifests } from '../../src/manifests/read.js';
import { writeManifests } from '../../src/manifests/write.js';
import { objectWithData } from '../helpers/json-values.js';

// parseManifests reads as kubectl does, or refuses (held to kubectl's own decoding code by the
// differential fuzz in test/e2e/check-fuzz.test.ts): what writeManifests writes must come back as
// it went in, never refused.
const readBack = (objects: unknown[]) => parseManifests(writeManifests(objects), 'mutated.yaml').map((d) => d.object);

describe('writeManifests', () => {
  it('writes strings that kubectl alone reads as numbers or line breaks so that it reads them back as strings', () => {
    const data = {
      hex: '0X1F', oct: '0o17', bin: '0B11', underscores: '1_000', exp: '1e1_0', point: '.5_0', sign: '+0x10',
      yes: 'yes', octal: '0644', tilde: '~', merge: '<<', time: '2024-01-01', colon: '12:30',
      nel: 'a\u0085b', ls: 'a\u2028b', ps: 'a\u2029b', bom: '\ufeffx', c1: 'a\u009bb', del: 'a\u007fb', cr: 'a\rb',
      tab: 'a\tb', makefile: 'all:\n\techo hi\n', crlf: 'x\r\ny\r\n', trailing: 'a \n b\n',
    };
    const object = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'q', labels: { '0X1F': 'x', 'a\u2028b': 'z' } }, data };
    expect(readBack([object])).toEqual([object]);
    const text = writeManifests([object]);
    expect(text).toContain('hex: "0X1F"');
    expect(text).toContain('"0X1F": x');
    expect(text).toContain('nel: "a\\Nb"');
    // Strings kubectl reads plain as they are stay plain.
    expect(text).toContain('apiVersion: v1');
  });

  it('writes a key << quoted, which kubectl reads as that key (plain, it is a merge to kubectl)', () => {
    // The reader refuses a quoted << (few readers know it does not merge), so the text is checked;
    // the e2e test reads it back through kubectl's decoding.
    const object = { apiVersion: 'example.com/v1', kind: 'Thing', metadata: { name: 'a' }, spec: { '<<': { replicas: 3 }, replicas: 1, merge: '<<' } };
    const text = writeManifests([object]);
    expect(text).toContain('  "<<":\n    replicas: 3\n');
    expect(text).not.toMatch(/^\s*<<:/m);
  });

  it('writes a stream of several objects, --- between them', () => {
    const objects = [{ apiVersion: 'v1', kind: 'A', v: 1 }, { apiVersion: 'v1', kind: 'B', v: [1.5, true, null, '---', '...'] }];
    expect(readBack(objects)).toEqual(objects);
  });

  it('writes any JSON value so that kubectl reads it back as it is', () => {
    fc.assert(
      fc.property(objectWithData, (object) => {
        expect(readBack([object])).toEqual([object]);
      }),
      { numRuns: 3000, seed: 20261206 },
    );
  });
});
