import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/errors.js';
import { tollgateErrorOf } from '../helpers/errors.js';
import { parseManifests, readManifests } from '../../src/manifests/read.js';

const FIXTURES = path.join('test', 'manifests-reader', 'fixtures');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'tollgate-read-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('parseManifests', () => {
  it('reads a multi-document stream, skipping comments and empty documents, and numbers documents as they stand', () => {
    const text = '# leading comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\n# only a comment\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: b}\n...\n';
    const docs = parseManifests(text, 'x.yaml');
    expect(docs.map((d) => [d.object.kind, d.document, d.line])).toEqual([
      ['ConfigMap', 1, 3],
      ['Secret', 4, 10],
    ]);
    expect(docs[0]!.file).toBe('x.yaml');
  });

  it('reads Helm-rendered output: # Source comments, documents rendered empty, quoted names', async () => {
    const docs = await readManifests([path.join(FIXTURES, 'helm-rendered.yaml')]);
    expect(docs.map((d) => `${d.object.kind}/${d.object.metadata?.name}`)).toEqual([
      'ServiceAccount/shop',
      'Service/shop',
      'Deployment/shop',
      'Pod/shop-test-connection',
    ]);
    expect(docs.map((d) => d.document)).toEqual([1, 3, 4, 5]);
  });

  it('reads YAML 1.1 as kubectl does: 0644 is octal, yes is true, timestamps and 12:30 stay strings', () => {
    const [doc] = parseManifests(
      'apiVersion: v1\nkind: X\nmode: 0644\nquoted: "0644"\nflag: yes\nwhen: 2024-05-02T10:11:12Z\ntime: 12:30\ndot: .\nratio: 1.5\nhex: 0x1F\n',
      'x.yaml',
    );
    expect(doc!.object).toEqual({ apiVersion: 'v1', kind: 'X', mode: 420, quoted: '0644', flag: true, when: '2024-05-02T10:11:12Z', time: '12:30', dot: '.', ratio: 1.5, hex: 31 });
  });

  it('unwraps kubectl get -o yaml List output, keeping the item index', async () => {
    const docs = await readManifests([path.join(FIXTURES, 'kubectl-get-list.yaml')]);
    expect(docs.map((d) => [d.object.kind, d.object.metadata?.name, d.item])).toEqual([
      ['ConfigMap', 'kube-root-ca.crt', 0],
      ['Deployment', 'api', 1],
    ]);
    // Timestamps stay strings, as the apiserver sends them.
    expect(docs[0]!.object.metadata?.creationTimestamp).toBe('2024-05-02T10:11:12Z');
  });

  it('reads JSON, and unwraps a typed list such as PodList', async () => {
    const docs = await readManifests([path.join(FIXTURES, 'pods.json')]);
    expect(docs.map((d) => [d.object.metadata?.name, d.item])).toEqual([
      ['a', 0],
      ['b', 1],
    ]);
  });

  it('refuses a List nested in a List (kubectl fails on it: its flattening finds no Items field), and reads a kind ending in List that has no items', () => {
    const nested = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'v1', kind: 'Pod' }] }] });
    expect(() => parseManifests(nested, '-')).toThrow('-: document 1 items[0] (line 1): a list (an object with items) inside a list, which kubectl fails on');
    const notAList = parseManifests('apiVersion: example.com/v1\nkind: AllowList\nspec: {}\n', '-');
    expect(notAList.map((d) => d.object.kind)).toEqual(['AllowList']);
  });

  it('reads any object with items as kubectl does: a list of them, items without apiVersion and kind taking the list\'s', () => {
    // kubectl applies the items (a Pod named smuggled), not the decoy around them.
    const decoy = 'apiVersion: v1\nkind: Pod\nmetadata: {name: decoy}\nspec:\n  containers: [{name: app, image: nginx}]\nitems:\n  - metadata: {name: smuggled}\n    spec:\n      containers: [{name: app, image: evil.io/x/miner:1.0}]\n';
    const [smuggled, ...rest] = parseManifests(decoy, 'x.yaml');
    expect(rest).toEqual([]);
    expect(smuggled).toMatchObject({ item: 0, object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'smuggled' } } });
    const podList = parseManifests(JSON.stringify({ apiVersion: 'v1', kind: 'PodList', items: [{ metadata: { name: 'a' } }, { apiVersion: 'apps/v1', kind: 'Deployment' }] }), 'x.json');
    expect(podList.map((d) => `${d.object.apiVersion} ${d.object.kind}`)).toEqual(['v1 Pod', 'apps/v1 Deployment']);
    for (const items of ['null', '{}', '"x"']) {
      expect(() => parseManifests(`apiVersion: v1\nkind: Pod\nitems: ${items}\n`, 'x.yaml'), items).toThrow('kubectl reads an object with items (a Pod here) as a list of them');
    }
  });

  it.each([
    ['U+2028', '\u2028'],
    ['U+2029', '\u2029'],
    ['U+0085', '\u0085'],
    ['U+000D without a line feed', '\r'],
  ])('refuses YAML holding %s, a line break to kubectl\'s parser and not to this one', (_name, separator) => {
    // kubectl sees a second image: key after the comment, and runs it.
    const text = `apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: app\n      image: nginx # pinned${separator}      image: evil.io/x/miner:1.0\n`;
    expect(() => parseManifests(text, 'x.yaml')).toThrow(/x\.yaml \(line 7\): U\+(2028|2029|0085|000D)( without a line feed)? is a line break to kubectl's YAML reading/);
    // In JSON, which kubectl reads as JSON, it is a character like any other.
    const json = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', data: { note: `a${separator}b` } });
    expect(parseManifests(json, 'x.json')[0]!.object.data).toEqual({ note: `a${separator}b` });
  });

  it('reads CRLF line ends as kubectl does', () => {
    const [doc] = parseManifests('apiVersion: v1\r\nkind: ConfigMap\r\nmetadata: {name: c}\r\n', 'x.yaml');
    expect(doc!.object.metadata).toEqual({ name: 'c' });
  });

  it.each([
    ['a quoted << with the ! tag (a merge to kubectl)', '      ! "<<": {initContainers: [{name: x, image: evil.io/x}]}', 'a << key quoted or tagged'],
    ['a << tagged !!str (a plain key to kubectl)', '      !!str <<: {items: []}', 'a << key quoted or tagged'],
    ['a quoted << (a plain key to kubectl)', '      "<<": {image: evil.io/x}', 'a << key quoted or tagged'],
    ['an alias as a key', '      *k : nginx', 'an alias as a mapping key'],
  ])('refuses %s', (_what, line, reason) => {
    const text = `x-key: &k image\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: app\n${line}\n`;
    expect(() => parseManifests(text, 'x.yaml')).toThrow(`x.yaml: document 1 (line 8): ${reason}`);
  });

  it('takes !!merge "<<" as the merge kubectl reads it as', () => {
    const [doc] = parseManifests('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  !!merge "<<": {name: c}\n', 'x.yaml');
    expect(doc!.object.metadata).toEqual({ name: 'c' });
    expect(() => parseManifests('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  !!merge "<<": {name: c}\n', 'x.yaml')).toThrow('the merge key << brings "name"');
  });

  it('refuses a merge key that brings a key written above it (kubectl lets the merge win), and reads every other merge', () => {
    const clash = 'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: app\n      image: nginx\n      <<: {image: "evil.io/x/miner:1.0"}\n';
    expect(() => parseManifests(clash, 'x.yaml')).toThrow('x.yaml: document 1 (line 8): the merge key << brings "image", which the mapping already has above it');
    const viaAlias = 'x-evil: &evil {image: "evil.io/x/miner:1.0"}\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: app\n      image: nginx\n      <<: [*evil]\n';
    expect(() => parseManifests(viaAlias, 'x.yaml')).toThrow('the merge key << brings "image"');
    // Brought by a map that merges it from another: kubectl's parser still lets it win.
    const twice = 'x-evil: &evil {image: "evil.io/x/miner:1.0"}\nx-wrap: &wrap {<<: *evil}\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: app\n      "image": nginx\n      <<: *wrap\n';
    expect(() => parseManifests(twice, 'x.yaml')).toThrow('the merge key << brings "image"');
    // Two merges: kubectl lets the second win, YAML's rule the first.
    const twoMerges = 'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: app\n      <<: {image: nginx}\n      <<: {image: "evil.io/x/miner:1.0"}\n';
    expect(() => parseManifests(twoMerges, 'x.yaml')).toThrow('x.yaml: document 1 (line 8): the merge key << brings "image"');
    // Aliases of aliases merged (10^8 maps): refused with its place once past the alias bound, not expanded for ever.
    const levels = Array.from({ length: 8 }, (_, i) => `l${i + 1}: &l${i + 1} {<<: [${Array(10).fill(`*l${i}`).join(', ')}]}`);
    const bomb = ['l0: &l0 {a: 1}', ...levels, 'apiVersion: v1', 'kind: A', ''].join('\n');
    expect(() => parseManifests(bomb, 'x.yaml')).toThrow(/x\.yaml: document 1 \(line \d+\): more aliases than this reader expands/);
    // A merge first and the key after it: both parsers let the key win.
    const agreed = 'base: &base {image: "evil.io/x/miner:1.0", name: app}\napiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - <<: *base\n      image: nginx\n';
    const [doc] = parseManifests(agreed, 'x.yaml');
    expect((doc!.object.spec as { containers: unknown[] }).containers).toEqual([{ name: 'app', image: 'nginx' }]);
  });

  it('refuses a document where kubectl fails on excessive aliasing (go-yaml counts the nodes decoded through aliases), and stops as early', async () => {
    // 100 aliases of a 3,965-item list kubectl reads; of 3,966 it fails (test/e2e/check-fuzz.test.ts holds the boundary to go-yaml's).
    const aliased = (items: number) => `apiVersion: v1\nkind: X\na: &a [${Array.from({ length: items }, (_, i) => i).join(', ')}]\nb: [${Array(100).fill('*a').join(', ')}]\n`;
    expect((parseManifests(aliased(3965), 'x.yaml')[0]!.object.b as unknown[][]).length).toBe(100);
    const err = await tollgateErrorOf(() => parseManifests(aliased(3966), 'x.yaml'));
    expect(err.message).toMatch(/^x\.yaml: document 1 \(line 3\): document contains excessive aliasing/);
    // 99 aliases of a 20,000-key map: 2 million entries once; refused after about a dozen of them.
    const wide = `apiVersion: v1\nkind: X\na: &a {${Array.from({ length: 20_000 }, (_, i) => `k${i}: v`).join(', ')}}\nb: [${Array(99).fill('*a').join(', ')}]\n`;
    expect(() => parseManifests(wide, 'x.yaml')).toThrow('document contains excessive aliasing');
  }, 60_000);

  it('keeps a __proto__ key as a plain key, never as the prototype', () => {
    for (const text of ['{"apiVersion":"v1","kind":"X","metadata":{"__proto__":{"polluted":1}}}', 'apiVersion: v1\nkind: X\nmetadata:\n  __proto__: {polluted: 1}\n']) {
      const [doc] = parseManifests(text, 'x');
      const metadata = doc!.object.metadata as object;
      expect(Object.hasOwn(metadata, '__proto__')).toBe(true);
      expect(Object.getPrototypeOf(metadata)).toBe(Object.prototype);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    }
  });

  it.each([
    ['a YAML syntax error', 'apiVersion: v1\nkind: ConfigMap\n---\napiVersion: v1\nkind: a: b\nmetadata: {}\n', 'x.yaml: document 2 (line 5)', ErrorCodes.TG_ERR_MANIFEST_PARSE],
    ['a duplicate key', 'apiVersion: v1\nkind: ConfigMap\nkind: Secret\n', 'x.yaml: document 1 (line 3): Map keys must be unique', ErrorCodes.TG_ERR_MANIFEST_PARSE],
    ['a document that is a scalar', 'apiVersion: v1\nkind: A\n---\njust text\n', 'x.yaml: document 2 (line 4): is a string, not a Kubernetes object', ErrorCodes.TG_ERR_MANIFEST_PARSE],
    ['a document that is a list', '- a\n- b\n', 'x.yaml: document 1 (line 1): is a list, not a Kubernetes object', ErrorCodes.TG_ERR_MANIFEST_PARSE],
    ['an object without kind', 'apiVersion: v1\nmetadata: {name: a}\n', 'x.yaml: document 1 (line 1): a Kubernetes object needs apiVersion and kind', ErrorCodes.TG_ERR_MANIFEST_PARSE],
    ['a List without items', 'apiVersion: v1\nkind: List\n', 'a List needs an items list', ErrorCodes.TG_ERR_MANIFEST_PARSE],
    ['a bad List item', 'apiVersion: v1\nkind: List\nitems:\n  - {apiVersion: v1, kind: A}\n  - 42\n', 'x.yaml: document 1 items[1] (line 1): is a number', ErrorCodes.TG_ERR_MANIFEST_PARSE],
    ['an alias bomb', `a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [${Array(10).fill('*a').join(',')}]\nc: &c [${Array(10).fill('*b').join(',')}]\napiVersion: v1\nkind: A\n`, 'x.yaml: document 1', ErrorCodes.TG_ERR_MANIFEST_PARSE],
  ])('names the file, document and line of %s', async (_what, text, message, code) => {
    const err = await tollgateErrorOf(() => parseManifests(text, 'x.yaml'));
    expect(err.code).toBe(code);
    expect(err.message).toContain(message);
  });

  // The yaml package's own check compared each key with every key before it: 40,000 keys (400 KB)
  // took 15 s, 200,000 (2.5 MB) more than ten minutes, all before the hang watchdog was started.
  it('reads a mapping of 40,000 keys in linear time, and still refuses a key written twice in it, block or flow', async () => {
    const keys = Array.from({ length: 40_000 }, (_, i) => `k${i}: v`);
    const head = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\n';
    const timed = <T>(read: () => T): T => {
      const started = performance.now();
      const result = read();
      // About 0.5 s read linearly; 25 s read quadratically.
      expect(performance.now() - started).toBeLessThan(5_000);
      return result;
    };
    const [doc] = timed(() => parseManifests(`${head}data:\n${keys.map((k) => `  ${k}\n`).join('')}`, 'x.yaml'));
    expect(Object.keys(doc!.object.data as object)).toHaveLength(40_000);
    const block = await timed(() => tollgateErrorOf(() => parseManifests(`${head}data:\n${keys.map((k) => `  ${k}\n`).join('')}  k7: again\n`, 'x.yaml')));
    expect(block.message).toContain('x.yaml: document 1 (line 40005): Map keys must be unique');
    const flow = await timed(() => tollgateErrorOf(() => parseManifests(`${head}data: {${keys.join(', ')}, k7: again}\n`, 'x.yaml')));
    expect(flow.message).toContain('x.yaml: document 1 (line 4): Map keys must be unique');
  }, 120_000);

  // Each key's check for a `?` before it on its line scanned the line from its start: a flow
  // mapping of 40,000 keys on one line (400 KB) took 10 s.
  it('reads a flow mapping of 40,000 keys on one line in linear time', () => {
    const keys = Array.from({ length: 40_000 }, (_, i) => `k${i}: v`);
    const started = performance.now();
    const [doc] = parseManifests(`apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata: {${keys.join(', ')}}\n`, 'x.yaml');
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(Object.keys(doc!.object.data as object)).toHaveLength(40_000);
  }, 60_000);

  it('names the line of a JSON syntax error in a .json file', async () => {
    const err = await tollgateErrorOf(() => parseManifests('{\n  "apiVersion": "v1",\n  "kind": "A",,\n}\n', 'x.json'));
    expect(err.code).toBe(ErrorCodes.TG_ERR_MANIFEST_PARSE);
    expect(err.message).toMatch(/^x\.json \(line 3\): not valid JSON/);
  });

  it('reads a YAML flow mapping that only looks like JSON', () => {
    expect(parseManifests('{apiVersion: v1, kind: ConfigMap}', 'x.yaml')[0]!.object.kind).toBe('ConfigMap');
  });
});

// Found by the differential fuzz against kubectl (test/e2e/check-fuzz.test.ts); what kubectl
// reads is what kubectl v1.37's decoding code (the e2e manifest oracle) reads.
describe('parseManifests reads YAML as kubectl does, or refuses it', () => {
  const object = (text: string) => parseManifests(`apiVersion: v1\nkind: X\n${text}`, 'x.yaml').map((d) => d.object);

  it('reads numbers as go-yaml v2 resolves them: 0o, 0X and 0B prefixes, underscores anywhere, a float too large for float64 as text', () => {
    const [read] = object('v: [0o777, 0X1F, 0B11, +0x10, 1__0, 0x_1F, -0b1, 08, 0b102, 1_0.5, .5_0, 1e1_0, 1.7976931348623159e308, 0xFFFFFFFFFFFFFFFF]\n');
    expect(read!.v).toEqual([511, 31, 3, 16, 10, 31, -1, 8, '0b102', 10.5, 0.5, 1e10, '1.7976931348623159e308', 2 ** 64]);
  });

  it('reads tagged scalars as go-yaml does: !!float 1 is a number, ! and unknown tags keep the text', () => {
    const [read] = object('v: [!!float 1, !!int "12", ! 12, !!str yes, !foo 1, !!null ""]\nm: {yes: a, 0x10: b, 0777: c, 2024-01-01: d}\n');
    expect(read!.v).toEqual([1, 12, '12', 'yes', '1', null]);
    // Keys are written as kubectl writes their YAML 1.1 values.
    expect(read!.m).toEqual({ true: 'a', 16: 'b', 511: 'c', '2024-01-01': 'd' });
  });

  it('reads a tab past a block scalar\'s indentation as content (a Makefile in a ConfigMap)', () => {
    expect(object('v: |\n  all:\n  \techo hi\n')[0]!.v).toBe('all:\n\techo hi\n');
  });

  it.each([
    // kubectl (go-yaml) reads `!t,` as one tag: one item, not two.
    ['a tag followed by a comma', 'v: [!t, x]\n', 'the tag "!t,"'],
    ['an anchor name with a dot (kubectl fails)', 'v: &a.b x\n', 'the anchor or alias "&a.b "'],
    // kubectl writes a float key in float32 notation: `.inf` stays `.inf`, 100000000.0 becomes 1e+08.
    ['a float key', 'm: {.inf: a}\n', 'a mapping key that kubectl reads as the number .inf (a float)'],
    ['a float key kubectl writes as 1e+08', 'm: {100000000.0: a}\n', 'a mapping key that kubectl reads as the number 100000000.0'],
    ['a null key (kubectl fails)', 'm: {~: a}\n', 'a mapping key that is null'],
    // Two Go keys, one JSON key: which kubectl keeps depends on Go's map order.
    ['keys 1 and "1" in one mapping', 'm: {1: a, "1": b}\n', 'the key "1" is written twice'],
    ['a scalar that does not fit its tag (kubectl fails)', 'v: !!int abc\n', 'kubectl cannot decode !!str `abc` as a !!int'],
    // kubectl decodes the base64 into the string "evil.io/x"; the yaml package makes bytes of it.
    ['!!binary', 'image: !!binary ZXZpbC5pby94\n', 'a !!binary scalar'],
    ['!!timestamp', 'v: !!timestamp 2024-01-01\n', 'a !!timestamp tag'],
    ['.inf (kubectl fails: JSON has no infinity)', 'v: .inf\n', '.inf is Infinity to kubectl'],
    // kubectl ignores the tag ([{b: c}]); the yaml package builds an empty map.
    ['!!omap on a sequence', 'v: !!omap [{b: c}]\n', 'a !!omap tag on a sequence'],
    ['an alias inside its own anchor (kubectl fails)', 'v: &x [*x]\n', "anchor 'x' value contains itself"],
    ['the escape \\/ (kubectl fails)', 'v: "a\\/b"\n', 'the escape \\/'],
    ['a surrogate pair written as two escapes (kubectl fails)', 'v: "\\ud83d\\ude00"\n', 'the escape \\ud83d'],
    // kubectl reads "x\ny" (the empty line is a line feed), the yaml package "x y".
    ['an escaped line break followed by an empty line', 'v: "x\\\n\n  y"\n', 'an escaped line break followed by an empty line'],
    ['a tab after a sequence dash (kubectl fails)', 'v:\n-\tx\n', 'a tab that starts a line or follows a block indicator'],
    ['a tab before a comment (kubectl fails)', 'v:\n  a: b\n\t# c\n', 'a tab that starts a line or follows a block indicator'],
    ['a tab in a block scalar\'s indentation (kubectl fails)', 'v: |\n \tx\n', 'a tab in the indentation of a block scalar'],
    ['a key over two lines (kubectl fails)', 'v: {a\n  b: c}\n', 'a key over more than one line or longer than 1000 characters'],
    ['a key of 1100 characters (kubectl fails)', `v: {${'k'.repeat(1100)}: c}\n`, 'a key over more than one line or longer than 1000 characters'],
    // In a flow collection YAML 1.1 ends a plain scalar at `?` and takes `:` before `]` into it.
    ['a plain scalar ending in : in a flow sequence (the string "a:" to kubectl)', 'v: [a:]\n', 'the unquoted "a" in a flow collection'],
    ['a plain scalar, a blank and : in a flow mapping (the key "y :" to kubectl)', 'v: {y :}\n', 'the unquoted "y" in a flow collection'],
    ['a ? in a plain scalar in a flow sequence (kubectl fails)', 'v: [a?b]\n', 'the unquoted "a?b" in a flow collection'],
    ['a plain scalar starting with ? in a flow mapping (an explicit key to kubectl)', 'v: {?x}\n', 'the unquoted "?x" in a flow collection'],
    ['a key with its : on the next line (kubectl fails)', 'y\n : v\n', 'a key over more than one line'],
    ['a key in a flow mapping with its tag on the line above (kubectl fails)', 'v: {!\n -: x, y: z}\n', 'a key over more than one line'],
    ['text after a block scalar header (kubectl fails)', '? | {\n: v\n', 'the block scalar header "| {"'],
    ['text right after a closing quote (kubectl fails)', 'v:\n  ? \'e}\'-]]\n', '"-" right after a closing quote'],
    ['DEL (kubectl fails)', 'v: a\x7fb\n', 'U+007F is a character kubectl\'s YAML reading refuses'],
    ['a C1 control character (kubectl fails)', 'v: a\u0080b\n', 'U+0080 is a character'],
  ])('refuses %s', (_what, text, reason) => {
    expect(() => object(text)).toThrow(reason);
  });

  it.each([
    ['a directive (kubectl fails)', '%YAML 1.1\n---\napiVersion: v1\nkind: X\n', 'x.yaml (line 1): a directive'],
    // kubectl reads one object: go-yaml stops at the `...`.
    ['a document after ... without ---', 'apiVersion: v1\nkind: X\n...\napiVersion: v1\nkind: Z\n', 'x.yaml: document 2 (line 4): a document after ... without ---'],
    ['... ending an empty document (kubectl fails)', 'apiVersion: v1\nkind: X\n---\n...\n', '... ending an empty document'],
    ['a separator line with more on it (kubectl fails)', 'apiVersion: v1\nkind: X\n---x\n', 'kubectl splits documents at every line starting with ---'],
    ['--- followed by a flow mapping (kubectl fails)', 'apiVersion: v1\nkind: X\n--- {}\n', 'kubectl splits documents at every line starting with ---'],
    // A separator to kubectl (its trimming takes U+00A0 for a space), not to YAML.
    ['--- followed by U+00A0', 'apiVersion: v1\nkind: X\n---\u00a0\napiVersion: v1\nkind: Z\n', 'kubectl splits documents at every line starting with ---'],
    // kubectl drops a byte order mark that starts a document after ---; the yaml package keeps it in the key.
    ['U+FEFF starting a later document', 'apiVersion: v1\nkind: X\n---\n\ufeffapiVersion: v1\nkind: Z\n', 'x.yaml (line 4): U+FEFF'],
    ['labels that are not strings (kubectl fails the document)', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, labels: {enabled: yes}}\n', 'metadata does not fit the types kubectl decodes it into'],
    ['a creationTimestamp that is no time (kubectl fails the document)', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, creationTimestamp: soon}\n', 'metadata does not fit the types kubectl decodes it into'],
    // kubectl sends the item in namespace default (its own), a policy here would see 5.
    ['a list item\'s namespace that is no string (kubectl overwrites it)', 'apiVersion: v1\nkind: List\nitems:\n  - {apiVersion: v1, kind: Pod, metadata: {name: p}}\n  - {apiVersion: v1, kind: Pod, metadata: {name: q, namespace: 5}}\n', 'x.yaml: document 1 items[1] (line 1): metadata does not fit the types kubectl and the apiserver decode it into'],
    ['a list item\'s labels that are not strings (the apiserver fails on them)', 'apiVersion: v1\nkind: PodList\nitems:\n  - metadata: {name: p, labels: {enabled: yes}}\n', 'x.yaml: document 1 items[0] (line 1): metadata does not fit'],
    ['an apiVersion with two slashes (kubectl finds no kind)', 'apiVersion: a/b/c\nkind: X\n', 'apiVersion "a/b/c" is not group/version'],
    // kubectl reads the object as JSON, then fails on the `...` it reads as YAML.
    ['a JSON object followed by ...', '{"apiVersion":"v1","kind":"X"}\n...\n', 'a JSON object followed by more YAML'],
    // kubectl reads the first object as JSON, where 1.0 is no int64.
    ['metadata.generation written 1.0 in a JSON object before ---', '{"apiVersion":"v1","kind":"X","metadata":{"generation":1.0}}\n---\n', 'x.yaml: document 1 (line 1): metadata.generation written with a point or an exponent'],
    // kubectl reads "x\n   \n" (the spaces past the indentation of 2), the yaml package "x\n".
    ['a block scalar with an indentation indicator ending in a line of spaces', 'apiVersion: v1\nkind: X\nv: |2\n  x\n     \n', 'a block scalar with an indentation indicator and a line of nothing but blanks'],
    ['a JSON number beyond float64 (kubectl fails)', '{"apiVersion":"v1","kind":"X","v":1e400}', 'a number too large'],
    // kubectl reads it as U+FFFD.
    ['a JSON lone surrogate escape', '{"apiVersion":"v1","kind":"X","v":"\\ud800"}', 'a lone surrogate escape'],
    ['metadata.generation written 1.0 in JSON (kubectl fails)', '{"apiVersion":"v1","kind":"X","metadata":{"name":"a","generation":1.0}}', 'metadata.generation written with a point or an exponent'],
    ['metadata.deletionGracePeriodSeconds written 3e1 in JSON, its key escaped', '{"apiVersion":"v1","kind":"X","metadata":{"name":"a","deletionGrace\\u0050eriodSeconds" : 3e1}}', 'metadata.deletionGracePeriodSeconds written with a point or an exponent'],
    ['JSON nested past kubectl\'s 10000 levels', `{"apiVersion":"v1","kind":"X","v":${'['.repeat(10001)}${']'.repeat(10001)}}`, 'nested deeper than 1000 levels'],
  ])('refuses %s', (_what, text, reason) => {
    expect(() => parseManifests(text, 'x.yaml')).toThrow(reason);
  });

  it('reads JSON whose metadata integers are written as integers, whatever other numbers it holds', () => {
    const json = '{"apiVersion":"v1","kind":"X","metadata":{"name":"a","generation":2,"labels":{"generation":"1.0"}},"spec":{"generation":1.5,"ratio":0.5,"list":[{"metadata":{"generation":1.0}}]}}';
    const [doc] = parseManifests(json, 'x.json');
    expect(doc!.object.metadata).toEqual({ name: 'a', generation: 2, labels: { generation: '1.0' } });
    expect((doc!.object.spec as { ratio: number }).ratio).toBe(0.5);
  });

  it('reads a JSON object followed by a --- line and more YAML, as kubectl does', () => {
    expect(parseManifests('{"apiVersion":"v1","kind":"X"}\n---\napiVersion: v1\nkind: Z\n', 'x.yaml').map((d) => d.object.kind)).toEqual(['X', 'Z']);
  });
});

describe('readManifests', () => {
  it('walks directories recursively for .yaml, .yml and .json, in sorted order', async () => {
    const docs = await readManifests([path.join(FIXTURES, 'tree')]);
    expect(docs.map((d) => [path.relative(FIXTURES, d.file), d.object.metadata?.name])).toEqual([
      [path.join('tree', 'Z.YAML'), 'z'],
      [path.join('tree', 'a.json'), 'a'],
      [path.join('tree', 'b.yaml'), 'b'],
      [path.join('tree', 'nested', 'c.yml'), 'c'],
    ]);
  });

  it('reads - from stdin, named as -', async () => {
    const docs = await readManifests(['-'], { stdin: Readable.from(['apiVersion: v1\nkind: Config', 'Map\nmetadata: {name: s}\n']) });
    expect(docs).toEqual([{ file: '-', document: 1, line: 1, object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 's' } } }]);
  });

  it('reads files and stdin in the order given', async () => {
    const docs = await readManifests([path.join(FIXTURES, 'tree', 'b.yaml'), '-'], { stdin: Readable.from(['apiVersion: v1\nkind: Secret\n']) });
    expect(docs.map((d) => d.object.kind)).toEqual(['ConfigMap', 'Secret']);
  });

  it('refuses - given twice', async () => {
    const err = await tollgateErrorOf(() => readManifests(['-', '-'], { stdin: Readable.from(['apiVersion: v1\nkind: A\n']) }));
    expect(err.code).toBe(ErrorCodes.TG_ERR_USAGE);
  });

  it('names a file that cannot be read', async () => {
    const err = await tollgateErrorOf(() => readManifests([path.join(dir, 'missing.yaml')]));
    expect(err.code).toBe(ErrorCodes.TG_ERR_MANIFEST_READ);
    expect(err.message).toContain(`${path.join(dir, 'missing.yaml')}: cannot read: `);
    expect(err.message).toContain('ENOENT');
  });

  it('fails when the inputs hold no object at all (a pipeline pointed at the wrong place)', async () => {
    await writeFile(path.join(dir, 'empty.yaml'), '# nothing\n---\n');
    const err = await tollgateErrorOf(() => readManifests([path.join(dir, 'empty.yaml')]));
    expect(err.code).toBe(ErrorCodes.TG_ERR_MANIFEST_READ);
    expect(err.message).toContain('no Kubernetes objects found');
  });

  it('refuses a file that is not UTF-8 (kubectl fails on it; it reads UTF-16, which this reader does not)', async () => {
    await writeFile(path.join(dir, 'latin1.yaml'), Buffer.from('apiVersion: v1\nkind: ConfigMap\ndata: {a: "caf\xe9"}\n', 'latin1'));
    expect((await tollgateErrorOf(() => readManifests([path.join(dir, 'latin1.yaml')]))).message).toBe(`${path.join(dir, 'latin1.yaml')}: not UTF-8, which kubectl fails on`);
    await writeFile(path.join(dir, 'utf16.yaml'), Buffer.from('\ufeffapiVersion: v1\nkind: ConfigMap\n', 'utf16le'));
    expect((await tollgateErrorOf(() => readManifests([path.join(dir, 'utf16.yaml')]))).message).toContain('UTF-16, which this reader does not read');
  });

  it('reads a file named on the command line whatever its extension', async () => {
    await writeFile(path.join(dir, 'rendered.txt'), 'apiVersion: v1\nkind: ConfigMap\n');
    expect((await readManifests([path.join(dir, 'rendered.txt')])).length).toBe(1);
  });
});
