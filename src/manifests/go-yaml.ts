// What kubectl makes of a YAML node: go-yaml v2 decoding into interface{}, then sigs.k8s.io/yaml's
// conversion to JSON (the path every `kubectl apply -f` takes). The yaml package finds the structure
// (documents, mappings, sequences, scalars and their styles, tags, anchors); this module decides what
// each node is, as a port of go-yaml's resolve() and decoder, so that a scalar, a key or a merge
// reads exactly as kubectl reads it, or is refused where kubectl fails or reads it in a way this
// reader does not emulate (a float key, !!binary, ...). It also finds the spellings go-yaml's
// scanner reads otherwise than the yaml package's (escapes, tabs, tags and anchor names, keys
// over two lines).
import { Lexer, Scalar, isAlias, isMap, isNode, isScalar, isSeq, visit, type Alias, type Document, type Node, type Pair } from 'yaml';

const YAML_TAG = 'tag:yaml.org,2002:';
const STR = `${YAML_TAG}str`;
const BOOL = `${YAML_TAG}bool`;
const INT = `${YAML_TAG}int`;
const FLOAT = `${YAML_TAG}float`;
const NULL = `${YAML_TAG}null`;
const TIMESTAMP = `${YAML_TAG}timestamp`;
const BINARY = `${YAML_TAG}binary`;
const MERGE = `${YAML_TAG}merge`;
const MAP = `${YAML_TAG}map`;
const SEQ = `${YAML_TAG}seq`;

/** A scalar as go-yaml resolves it; the Go type matters for keys, which sigs.k8s.io/yaml writes by type. */
type GoScalar =
  | { type: 'null' }
  | { type: 'bool'; value: boolean }
  /** int (int64) or uint64. */
  | { type: 'int'; value: bigint }
  | { type: 'float'; value: number }
  | { type: 'str'; value: string };

/** A node kubectl fails on, or that this reader refuses because kubectl could read it otherwise. */
export class KubectlYamlError extends Error {
  constructor(
    message: string,
    readonly node: Node | Pair | null | undefined,
  ) {
    super(message);
    this.name = 'KubectlYamlError';
  }
}

const str = (value: string): GoScalar => ({ type: 'str', value });
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

/** go-yaml's resolveMap: plain scalars it reads by their exact text. */
const KNOWN_SCALARS = new Map<string, { tag: string; value: GoScalar }>();
for (const [texts, tag, value] of [
  [['y', 'Y', 'yes', 'Yes', 'YES', 'true', 'True', 'TRUE', 'on', 'On', 'ON'], BOOL, { type: 'bool', value: true }],
  [['n', 'N', 'no', 'No', 'NO', 'false', 'False', 'FALSE', 'off', 'Off', 'OFF'], BOOL, { type: 'bool', value: false }],
  [['', '~', 'null', 'Null', 'NULL'], NULL, { type: 'null' }],
  [['.nan', '.NaN', '.NAN'], FLOAT, { type: 'float', value: NaN }],
  [['.inf', '.Inf', '.INF', '+.inf', '+.Inf', '+.INF'], FLOAT, { type: 'float', value: Infinity }],
  [['-.inf', '-.Inf', '-.INF'], FLOAT, { type: 'float', value: -Infinity }],
  [['<<'], MERGE, str('<<')],
] as const) {
  for (const text of texts) KNOWN_SCALARS.set(text, { tag, value });
}

/** go-yaml's resolveTable: what the first byte of a plain scalar hints it may be. */
function hint(text: string): 'S' | 'D' | 'M' | '.' | undefined {
  if (text === '') return 'M';
  const first = text[0]!;
  if (first === '+' || first === '-') return 'S';
  if (first >= '0' && first <= '9') return 'D';
  if ('yYnNtTfFoO~'.includes(first)) return 'M';
  if (first === '.') return '.';
  return undefined;
}

const DIGITS: Record<number, RegExp> = { 2: /^[01]+$/, 8: /^[0-7]+$/, 10: /^[0-9]+$/, 16: /^[0-9a-fA-F]+$/ };
const PREFIX: Record<number, string> = { 2: '0b', 8: '0o', 10: '', 16: '0x' };

/**
 * Go's strconv.ParseInt(text, base, 64) (signed) or ParseUint (unsigned), base 0 meaning "by
 * prefix" (0x, 0o, 0b, or a leading 0 for octal). The text holds no underscores here.
 */
function parseGoInteger(text: string, base: 0 | 2, signed: boolean): bigint | undefined {
  let digits = text;
  let negative = false;
  if (signed && (digits[0] === '+' || digits[0] === '-')) {
    negative = digits[0] === '-';
    digits = digits.slice(1);
  }
  let radix = base === 0 ? 10 : base;
  if (base === 0 && digits[0] === '0') {
    const prefix = digits[1]?.toLowerCase();
    if (digits.length >= 3 && (prefix === 'b' || prefix === 'o' || prefix === 'x')) {
      radix = prefix === 'b' ? 2 : prefix === 'o' ? 8 : 16;
      digits = digits.slice(2);
    } else {
      radix = 8;
      digits = digits.slice(1);
      if (digits === '') return 0n;
    }
  }
  if (!DIGITS[radix]!.test(digits)) return undefined;
  const magnitude = BigInt(`${PREFIX[radix]}${digits}`);
  const value = negative ? -magnitude : magnitude;
  if (signed ? value < INT64_MIN || value > INT64_MAX : value > UINT64_MAX) return undefined;
  return value;
}

/** Go's strconv.ParseFloat(text, 64) for a decimal text, or undefined where it fails (overflow too). */
function parseGoFloat(text: string): number | undefined {
  // Digits, one point, an exponent; underscores only between digits (Go's underscoreOK).
  if (!/^[-+]?(?:[0-9_]+\.?[0-9_]*|\.[0-9_]+)(?:[eE][-+]?[0-9_]+)?$/.test(text) || /(?:^|[^0-9])_|_(?:[^0-9]|$)/.test(text)) return undefined;
  const value = Number(text.replace(/_/g, ''));
  return Number.isFinite(value) ? value : undefined;
}

const YAML_STYLE_FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;

/** go-yaml v2's resolve(tag, in), for the tags it resolves. */
function resolveScalar(tag: string, text: string): { tag: string; value: GoScalar } {
  const kind = hint(text);
  if (kind !== undefined && tag !== STR && tag !== BINARY) {
    const known = KNOWN_SCALARS.get(text);
    if (known) return known;
    if (kind === '.') {
      const float = parseGoFloat(text);
      if (float !== undefined) return { tag: FLOAT, value: { type: 'float', value: float } };
    } else if (kind === 'D' || kind === 'S') {
      // A timestamp is tried first, but go-yaml hands an untagged one back as its text, which is
      // what the rest makes of it too (no timestamp is a number); !!timestamp is refused earlier.
      const plain = text.replace(/_/g, '');
      const int = parseGoInteger(plain, 0, true) ?? parseGoInteger(plain, 0, false);
      if (int !== undefined) return { tag: INT, value: { type: 'int', value: int } };
      if (YAML_STYLE_FLOAT.test(plain)) {
        const float = parseGoFloat(plain);
        if (float !== undefined) return { tag: FLOAT, value: { type: 'float', value: float } };
      }
      const binary = plain.startsWith('0b')
        ? (parseGoInteger(plain.slice(2), 2, true) ?? parseGoInteger(plain.slice(2), 2, false))
        : plain.startsWith('-0b')
          ? parseGoInteger(`-${plain.slice(3)}`, 2, true)
          : undefined;
      if (binary !== undefined) return { tag: INT, value: { type: 'int', value: binary } };
    }
  }
  return { tag: STR, value: str(text) };
}

/** Whether go-yaml resolves `text`, written as a plain scalar, as that string (`0X1F` is 31 to it); a `<<` key is a merge besides. */
export function readsPlainAsString(text: string): boolean {
  return resolveScalar('', text).tag === STR;
}

function shortTag(tag: string): string {
  return tag.startsWith(YAML_TAG) ? `!!${tag.slice(YAML_TAG.length)}` : tag;
}

/** The tags go-yaml resolves a scalar by; any other tag leaves it a string. */
const RESOLVED_TAGS = new Set(['', STR, BOOL, INT, FLOAT, NULL, TIMESTAMP]);

/** What go-yaml decodes a scalar node to (decoder.scalar into an interface{}). */
function scalarValue(node: Scalar): GoScalar {
  const tag = node.tag ?? '';
  const text = node.source ?? String(node.value);
  // go-yaml's "implicit": a plain scalar without a tag, or any scalar with the non-specific `!`.
  const implicit = (tag === '' && node.type === Scalar.PLAIN) || tag === '!';
  if (tag === '' && !implicit) return str(text);
  if (tag === BINARY) throw new KubectlYamlError('a !!binary scalar: write the text it stands for instead', node);
  if (tag === TIMESTAMP) throw new KubectlYamlError('a !!timestamp tag: write the time as a string', node);
  if (!RESOLVED_TAGS.has(tag)) return str(text);
  const resolved = resolveScalar(tag, text);
  if (tag === '' || tag === STR || tag === resolved.tag) return resolved.value;
  // go-yaml turns an int (not a uint64) into a float for !!float.
  if (tag === FLOAT && resolved.value.type === 'int' && resolved.value.value >= INT64_MIN && resolved.value.value <= INT64_MAX) {
    return { type: 'float', value: Number(resolved.value.value) };
  }
  throw new KubectlYamlError(`kubectl cannot decode ${shortTag(resolved.tag)} \`${text}\` as a ${shortTag(tag)}`, node);
}

/** A key written `<<`, in any style and with any tag. */
function spellsMerge(key: unknown): key is Scalar {
  return isScalar(key) && (key.source ?? key.value) === '<<';
}

/** A `<<` key go-yaml merges at: plain (or `!`-tagged), or tagged !!merge, in any style. */
function isGoMergeKey(key: unknown): key is Scalar {
  return spellsMerge(key) && (key.tag === MERGE || key.tag === '!' || (key.tag === undefined && key.type === Scalar.PLAIN));
}

/**
 * A `<<` that anyone reading the YAML takes for what kubectl makes of it: plain and untagged (a
 * merge), or tagged !!merge. Quoted or otherwise tagged, it merges or not by rules few readers know
 * (`! "<<"` merges, `!!str <<` does not), so the decoder refuses it.
 */
function isPlainMergeKey(key: Scalar): boolean {
  return key.tag === MERGE || (key.tag === undefined && key.type === Scalar.PLAIN);
}

/** Strings kubectl would write otherwise: a lone surrogate (go-yaml refuses one, Go's JSON replaces it). */
const LONE_SURROGATE = /\p{Cs}/u;

/** A mapping key as kubectl writes it in JSON, and its Go identity (`1` and `"1"` are two Go keys). */
function keyOf(key: unknown, at: Pair): { name: string; identity: string } {
  if (isAlias(key)) throw new KubectlYamlError('an alias as a mapping key; write the key out', at);
  if (key === null || key === undefined) throw new KubectlYamlError('a mapping key that is empty (null): kubectl cannot write it as JSON', at);
  if (!isScalar(key)) throw new KubectlYamlError('a mapping or sequence as a mapping key: kubectl cannot decode it', at);
  const value = scalarValue(key);
  switch (value.type) {
    case 'str':
      if (LONE_SURROGATE.test(value.value)) throw new KubectlYamlError('a lone surrogate (\\uD800-\\uDFFF) in a key: kubectl cannot read it', at);
      return { name: value.value, identity: `str:${value.value}` };
    case 'bool':
      return { name: String(value.value), identity: `bool:${value.value}` };
    case 'int':
      if (value.value > INT64_MAX) throw new KubectlYamlError(`a mapping key ${value.value} beyond int64: kubectl cannot write it as JSON`, at);
      return { name: value.value.toString(), identity: `int:${value.value}` };
    case 'float':
      // sigs.k8s.io/yaml writes such a key in float32 notation (100000000.0 as 1e+08): not emulated.
      throw new KubectlYamlError(`a mapping key that kubectl reads as the number ${key.source ?? ''} (a float), which it writes in its own notation; quote it`, at);
    case 'null':
      throw new KubectlYamlError('a mapping key that is null: kubectl cannot write it as JSON', at);
  }
}

export interface DecodeOptions {
  /** How many aliases one document may expand (nested ones counted): a bound against "billion laughs". */
  maxAliasCount: number;
}

interface Entry {
  identity: string;
  value: unknown;
}

/** go-yaml's bound on aliasing (decoder.unmarshal): past 400,000 nodes decoded, the share of them decoded through aliases it allows falls from 0.99 to 0.10 at 4,000,000. */
const ALIAS_RATIO_RANGE_LOW = 400_000;
const ALIAS_RATIO_RANGE_HIGH = 4_000_000;

function allowedAliasRatio(decodeCount: number): number {
  if (decodeCount <= ALIAS_RATIO_RANGE_LOW) return 0.99;
  if (decodeCount >= ALIAS_RATIO_RANGE_HIGH) return 0.1;
  return 0.99 - 0.89 * ((decodeCount - ALIAS_RATIO_RANGE_LOW) / (ALIAS_RATIO_RANGE_HIGH - ALIAS_RATIO_RANGE_LOW));
}

/** Decodes documents as kubectl does; one per document, since aliases resolve within one. */
export class KubectlDecoder {
  /** Anchored nodes and aliases in document order: an alias names the last anchor before it. */
  private readonly anchorsAndAliases: Node[] = [];
  /** Nodes being decoded through aliases, to refuse an alias inside its own anchor. */
  private readonly decoding = new Set<Node>();
  private aliasesLeft: number;
  /** Nodes decoded, the document's own first, and those decoded through an alias: counted as go-yaml counts them, in its order. */
  private decodeCount = 1;
  private aliasCount = 0;
  private aliasDepth = 0;

  constructor(
    private readonly doc: Document,
    options: DecodeOptions,
  ) {
    this.aliasesLeft = options.maxAliasCount;
    visit(doc, {
      Node: (_key, node) => {
        if (isAlias(node) || node.anchor !== undefined) this.anchorsAndAliases.push(node);
      },
    });
  }

  /** The document's value as JSON-shaped data, as kubectl would send it. */
  value(): unknown {
    return this.decode(this.doc.contents);
  }

  private anchored(alias: Alias): Node {
    let found: Node | undefined;
    for (const node of this.anchorsAndAliases) {
      if (node === alias) break;
      if (!isAlias(node) && node.anchor === alias.source) found = node;
    }
    if (!found) throw new KubectlYamlError(`unknown anchor '${alias.source}' referenced`, alias);
    return found;
  }

  /**
   * One node decoded, as go-yaml's decoder.unmarshal counts it, which fails a document whose
   * nodes are decoded through aliases in too large a share ("billion laughs"): kubectl fails on
   * such a document, and this reader stops as early as it does.
   */
  private count(at: Node | Pair | null): void {
    this.decodeCount++;
    if (this.aliasDepth > 0) this.aliasCount++;
    if (this.aliasCount > 100 && this.decodeCount > 1000 && this.aliasCount / this.decodeCount > allowedAliasRatio(this.decodeCount)) {
      throw new KubectlYamlError('document contains excessive aliasing (so many nodes decoded through aliases that kubectl fails on it)', at);
    }
  }

  /** The node an alias stands for, counted against the bound and checked for an alias in its own anchor. */
  private throughAlias<T>(alias: Alias, use: (node: Node) => T): T {
    if (--this.aliasesLeft < 0) throw new KubectlYamlError('more aliases than this reader expands', alias);
    const node = this.anchored(alias);
    if (this.decoding.has(node)) throw new KubectlYamlError(`anchor '${alias.source}' value contains itself`, alias);
    this.decoding.add(node);
    this.aliasDepth++;
    try {
      return use(node);
    } finally {
      this.aliasDepth--;
      this.decoding.delete(node);
    }
  }

  private decode(node: unknown): unknown {
    this.count(isNode(node) ? node : null);
    if (node === null || node === undefined) return null;
    if (isAlias(node)) return this.throughAlias(node, (target) => this.decode(target));
    if (isScalar(node)) return scalarJSON(node);
    if (isMap(node)) {
      checkCollectionTag(node, MAP);
      return toObject(this.entries(node));
    }
    if (isSeq(node)) {
      checkCollectionTag(node, SEQ);
      return node.items.map((item) => this.decode(item));
    }
    // The yaml package puts bare pairs in a sequence only for !!pairs and !!omap, refused above.
    throw new KubectlYamlError('a node this reader does not know', null);
  }

  private entries(map: { items: Pair[] }): Map<string, Entry> {
    return this.pairEntries(map.items);
  }

  /**
   * go-yaml's decoder.mapping: pairs applied in order into one Go map, the later writing over the
   * earlier, a merge (`<<`) writing its map's pairs (for a sequence of maps, the last map first, so
   * that the first wins). Two keys kubectl writes as one JSON key from different Go keys (`1` and
   * `"1"`) are refused: which one kubectl keeps depends on Go's map order.
   *
   * A merge that brings a key already in the mapping above it is refused too: kubectl lets the
   * merge win, YAML's merge rule (which most YAML tools and readers follow) the key, so
   * `image: a` then `<<: {image: b}` would run b and read as a. A key after a merge wins under both.
   */
  private pairEntries(pairs: Pair[]): Map<string, Entry> {
    const out = new Map<string, Entry>();
    const set = (name: string, entry: Entry, at: Pair) => {
      const existing = out.get(name);
      if (existing && existing.identity !== entry.identity) {
        throw new KubectlYamlError(`two keys that kubectl writes as the same JSON key ${JSON.stringify(name)}; kubectl keeps either`, at);
      }
      out.set(name, entry);
    };
    const written = new Set<string>();
    for (const pair of pairs) {
      if (spellsMerge(pair.key) && !isPlainMergeKey(pair.key)) {
        throw new KubectlYamlError('a << key quoted or tagged: whether it merges depends on rules few readers know; write a plain << or none', pair);
      }
      if (isGoMergeKey(pair.key)) {
        const sources = this.mergeSources(pair.value, pair);
        for (const source of sources) {
          for (const name of source.keys()) {
            if (out.has(name)) {
              throw new KubectlYamlError(
                `the merge key << brings ${JSON.stringify(name)}, which the mapping already has above it: kubectl lets the later one win, YAML's merge rule the earlier; write ${JSON.stringify(name)} once`,
                pair,
              );
            }
          }
        }
        for (const source of sources) {
          for (const [name, entry] of source) set(name, entry, pair);
        }
        continue;
      }
      this.count(pair);
      const key = keyOf(pair.key, pair);
      // go-yaml keeps the later of two equal keys; this reader refuses them, as it always has.
      if (written.has(key.name)) throw new KubectlYamlError(`the key ${JSON.stringify(key.name)} is written twice in one mapping`, pair);
      written.add(key.name);
      set(key.name, { identity: key.identity, value: this.decode(pair.value) }, pair);
    }
    return out;
  }

  /** The maps a merge writes, in the order go-yaml writes them. */
  private mergeSources(value: unknown, at: Pair): Array<Map<string, Entry>> {
    const wantMap = () => new KubectlYamlError('map merge requires map or sequence of maps as the value', at);
    // Each map, and each alias and the map it stands for, counts as a node decoded (a sequence of them does not).
    const sourceOf = (node: unknown): Map<string, Entry> => {
      if (isMap(node)) {
        checkCollectionTag(node, MAP);
        this.count(node);
        return this.entries(node);
      }
      if (isAlias(node)) {
        this.count(node);
        return this.throughAlias(node, (target) => {
          if (!isMap(target)) throw wantMap();
          checkCollectionTag(target, MAP);
          this.count(target);
          return this.entries(target);
        });
      }
      throw wantMap();
    };
    if (isSeq(value)) {
      checkCollectionTag(value, SEQ);
      // Last first, as go-yaml decodes them (the first map wins).
      return [...value.items].reverse().map(sourceOf);
    }
    return [sourceOf(value)];
  }
}

/**
 * Tags on a mapping or sequence: go-yaml ignores them, the yaml package builds other things for
 * some (a Set for !!set, a Map for !!omap), so only the plain ones are taken.
 */
function checkCollectionTag(node: { tag?: string | undefined }, own: string): void {
  const tag = node.tag;
  if (tag === undefined || tag === own || tag === '!' || (tag.startsWith('!') && !tag.startsWith('!!'))) return;
  throw new KubectlYamlError(`a ${shortTag(tag)} tag on a ${own === MAP ? 'mapping' : 'sequence'}: write it untagged`, node as Node);
}

/** A scalar as it comes out of kubectl's JSON. */
function scalarJSON(node: Scalar): unknown {
  const value = scalarValue(node);
  switch (value.type) {
    case 'null':
      return null;
    case 'bool':
      return value.value;
    case 'int':
      // The apiserver's JSON, parsed by the webhook, rounds an int beyond 2^53 as Number() does.
      return Number(value.value);
    case 'float':
      if (!Number.isFinite(value.value)) throw new KubectlYamlError(`${node.source ?? ''} is ${value.value} to kubectl, which JSON cannot hold: kubectl fails on it`, node);
      // JSON -0 comes back from apimachinery as the integer 0.
      return value.value === 0 ? 0 : value.value;
    case 'str':
      if (LONE_SURROGATE.test(value.value)) throw new KubectlYamlError('a lone surrogate (\\uD800-\\uDFFF) in a string: kubectl cannot read it', node);
      return value.value;
  }
}

function toObject(entries: Map<string, Entry>): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  // defineProperty: a `__proto__` key stays a key, never the prototype.
  for (const [name, entry] of entries) Object.defineProperty(object, name, { value: entry.value, enumerable: true, writable: true, configurable: true });
  return object;
}

/** Escapes go-yaml reads in a double-quoted scalar: YAML 1.1's and `\'`. (YAML 1.2 adds `\/`, which it does not know.) */
const GO_ESCAPES = new Set(['0', 'a', 'b', 't', '\t', 'n', 'v', 'f', 'r', 'e', ' ', '"', "'", '\\', 'N', '_', 'L', 'P', '\n', '\r']);
const GO_CODE_ESCAPES: Record<string, number> = { x: 2, u: 4, U: 8 };

/**
 * Escapes in a double-quoted scalar's source that go-yaml fails on and the yaml package reads: `\/`,
 * and a `\u` or `\U` code that is a surrogate (go-yaml takes no surrogate pair either) or beyond
 * U+10FFFF. And an escaped line break followed by an empty line, which go-yaml folds as YAML says
 * (`"x\`, an empty line, `y"` is "x\ny") and the yaml package otherwise ("x y").
 */
function checkEscapes(raw: string, node: Scalar): void {
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] !== '\\') continue;
    const escape = raw[i + 1] ?? '';
    if ((escape === '\n' || escape === '\r') && /^\r?\n[ \t]*\r?\n/.test(raw.slice(i + 1))) {
      throw new KubectlYamlError('an escaped line break followed by an empty line, which YAML readers fold differently (kubectl keeps a line feed for the empty line); write \\n instead', node);
    }
    if (GO_ESCAPES.has(escape)) {
      i++;
      continue;
    }
    const length = GO_CODE_ESCAPES[escape];
    if (length === undefined) throw new KubectlYamlError(`the escape \\${escape}, which kubectl's YAML parser does not know`, node);
    const code = Number.parseInt(raw.slice(i + 2, i + 2 + length), 16);
    if ((code >= 0xd800 && code <= 0xdfff) || code > 0x10ffff) {
      throw new KubectlYamlError(`the escape ${raw.slice(i, i + 2 + length)}, which kubectl's YAML parser refuses (a surrogate, or beyond U+10FFFF)`, node);
    }
    i += 1 + length;
  }
}

/** Where a block scalar's content lies in the source: the lines after its header. */
export interface BlockScalarSpan {
  start: number;
  end: number;
}

/**
 * A plain scalar in a flow collection that go-yaml (YAML 1.1) ends elsewhere than the yaml package
 * (YAML 1.2): to go-yaml a `?` or `:` that starts it is an indicator and a `?` in it ends it, and a
 * `:` followed by `,` `[` `]` `{` or `}` is part of it (`[a:]` is the string "a:" to kubectl and a
 * pair to the yaml package).
 */
function checkFlowPlainScalar(raw: string, after: string, node: Scalar): void {
  if (/^[?:]|\?/.test(raw) || /^[ \t]*:[,[\]{}]/.test(after)) {
    throw new KubectlYamlError(`the unquoted ${JSON.stringify(raw)} in a flow collection, which kubectl's YAML 1.1 parser splits elsewhere; quote it`, node);
  }
}

/**
 * Checks the scalars' spellings that go-yaml reads otherwise (double-quoted escapes, plain scalars
 * in flow collections), and returns where the block scalars' content lies, for checkTabs.
 */
export function checkScalarSources(doc: Document, source: string): BlockScalarSpan[] {
  const spans: BlockScalarSpan[] = [];
  visit(doc, {
    Scalar(_key, node, path) {
      const range = node.range;
      if (!range) return;
      const inFlow = path.some((parent) => (isMap(parent) || isSeq(parent)) && parent.flow === true);
      if (node.type === Scalar.QUOTE_DOUBLE || node.type === Scalar.QUOTE_SINGLE) {
        if (node.type === Scalar.QUOTE_DOUBLE) checkEscapes(source.slice(range[0], range[1]), node);
        // The yaml package lets some text follow a closing quote that go-yaml fails on (`'a'x`).
        const after = source.slice(range[1], range[1] + 2);
        if (!/^(?:$|[ \t\r\n,\]}])/.test(after) && !(after.startsWith(':') && (inFlow || /^:(?:$|[ \t\r\n])/.test(after)))) {
          throw new KubectlYamlError(`${JSON.stringify(after[0])} right after a closing quote, which kubectl fails on`, node);
        }
      } else if (node.type === Scalar.PLAIN && inFlow) {
        checkFlowPlainScalar(source.slice(range[0], range[1]), /^[ \t]*:?.?/.exec(source.slice(range[1], range[1] + 100))![0], node);
      } else if (node.type === Scalar.BLOCK_LITERAL || node.type === Scalar.BLOCK_FOLDED) {
        const lineEnd = source.indexOf('\n', range[0]);
        if (lineEnd !== -1 && lineEnd < range[1]) spans.push({ start: lineEnd + 1, end: range[1] });
        // With an indentation indicator, go-yaml keeps a line of blanks past the indentation as
        // content (`|2` over a last line of five spaces ends in "   \n"), the yaml package drops it.
        const header = source.slice(range[0], lineEnd === -1 ? undefined : lineEnd);
        // The yaml package reads on past text after a header (`| {`), which go-yaml fails on.
        if (!/^[|>](?:[1-9][-+]?|[-+][1-9]?)?(?:[ \t]+(?:#.*)?)?\r?$/.test(header)) {
          throw new KubectlYamlError(`the block scalar header ${JSON.stringify(header.replace(/\r$/, ''))}, which kubectl fails on; put only a comment after | or >`, node);
        }
        if (lineEnd !== -1 && /^[|>][-+]?[1-9]/.test(header)) {
          const lines = source.slice(lineEnd + 1, range[1]) + /^(?:[ \t]*\r?\n)*/.exec(source.slice(range[1]))![0];
          if (/^[ \t]+\r?$/m.test(lines)) {
            throw new KubectlYamlError('a block scalar with an indentation indicator and a line of nothing but blanks, which YAML readers read differently; empty the line', node);
          }
        }
      }
    },
  });
  return spans;
}

/** A line's leading blanks, with the block indicators (`-`, `?`, `:`) among them. */
const LINE_PREFIX = /^(?:[ \t]|[-?:](?=[ \t]|$))*/;

/**
 * Tabs where go-yaml fails and the yaml package reads on: in a line's indentation, after a block
 * indicator (`-\tx`), or in a block scalar before its content's indentation. Refused outside block
 * scalars wherever they lead a line (go-yaml takes some of these, in flow collections and quoted
 * scalars); inside one, a tab past the indentation of its first line is content, as to go-yaml.
 */
export function checkTabs(source: string, blockScalars: BlockScalarSpan[]): { index: number; message: string } | undefined {
  if (!source.includes('\t')) return undefined;
  let span = 0;
  let contentIndent: number | undefined;
  for (let start = 0; start < source.length; ) {
    const newline = source.indexOf('\n', start);
    const end = newline === -1 ? source.length : newline;
    const line = source.slice(start, end);
    while (span < blockScalars.length && blockScalars[span]!.end <= start) {
      span++;
      contentIndent = undefined;
    }
    const inBlock = span < blockScalars.length && blockScalars[span]!.start <= start;
    if (inBlock) {
      const leading = /^[ \t]*/.exec(line)![0];
      const blank = leading.length === line.replace(/\r$/, '').length;
      const tab = leading.indexOf('\t');
      if (tab !== -1 && (contentIndent === undefined || tab < contentIndent)) {
        return { index: start + tab, message: 'a tab in the indentation of a block scalar, which kubectl fails on; indent with spaces' };
      }
      if (contentIndent === undefined && !blank) contentIndent = leading.length;
    } else if (LINE_PREFIX.exec(line)![0].includes('\t')) {
      return { index: start + line.indexOf('\t'), message: 'a tab that starts a line or follows a block indicator (- ? :), which kubectl fails on or reads otherwise; use spaces' };
    }
    start = end + 1;
  }
  return undefined;
}

/** The characters go-yaml takes in a tag (scan_tag_handle and scan_tag_uri, without % escapes). */
const GO_TAG = /^!(?:<[\w\-;/?:@&=+$,.!~*'()[\]]+>|(?:[\w-]*!)?[\w\-;/?:@&=+$,.!~*'()[\]]*)$/;
/** The characters go-yaml takes in an anchor or alias name (scan_anchor). */
const GO_ANCHOR = /^[\w-]+$/;
/** Tokens of the yaml package's lexer that stand for no source text. */
const CONTROL_TOKENS = new Set(['\x02', '\x18', '\x1f']);
const BLANK_OR_END = /^(?:[ \t\r\n]|$)/;

/**
 * Tags, anchors and aliases that end elsewhere for go-yaml than for the yaml package. go-yaml
 * reads `,`, `[` and `]` as part of a tag (`[!t, x]` is one tagged item to it, two to the yaml
 * package) and ends an anchor name at the first character that is not a letter, digit, `_` or
 * `-` (the yaml package reads `*a:` as the alias `a:`). Each is taken only where both end it at
 * the same place: a tag followed by a blank, a name followed by a blank, `,`, `]` or `}`.
 */
export function checkTagsAndAnchors(source: string): { index: number; message: string } | undefined {
  if (!/[!&*]/.test(source)) return undefined;
  let offset = 0;
  for (const token of new Lexer().lex(source)) {
    if (CONTROL_TOKENS.has(token)) continue;
    const next = source.slice(offset + token.length, offset + token.length + 1);
    if (token.startsWith('!') && (!GO_TAG.test(token) || !BLANK_OR_END.test(next))) {
      return { index: offset, message: `the tag ${JSON.stringify(token + next)}: kubectl's YAML parser ends tags elsewhere (it takes , [ and ] in one); put a space after the tag` };
    }
    if ((token.startsWith('&') || token.startsWith('*')) && (!GO_ANCHOR.test(token.slice(1)) || !(BLANK_OR_END.test(next) || next === ',' || next === ']' || next === '}'))) {
      return { index: offset, message: `the anchor or alias ${JSON.stringify(token + next)}: kubectl's YAML parser takes only letters, digits, _ and - in its name; rename it` };
    }
    offset += token.length;
  }
  return undefined;
}

/** How far go-yaml looks for the `:` of an implicit key (libyaml's simple keys: 1024 characters). */
const IMPLICIT_KEY_REACH = 1000;

/** Before a key: `?` and blanks, and the key's tags and anchors, on its line. */
const EXPLICIT_KEY = /(?:^|[\s,[{])\?[ \t]+(?:[!&]\S*[ \t]+)*$/;

/**
 * The text on the line before `offset`, for EXPLICIT_KEY, at most IMPLICIT_KEY_REACH characters of
 * it: looked at from the line's start for every key, a flow mapping of 40,000 keys on one line took
 * 10 s. A line cut short starts with `x`, so that `^` is not taken for its start: a `?` further
 * back than that makes no key explicit here, and the key is checked as an implicit one.
 */
function textBeforeOnLine(source: string, offset: number): string {
  const from = Math.max(0, offset - IMPLICIT_KEY_REACH);
  const before = source.slice(from, offset);
  const newline = before.lastIndexOf('\n');
  if (newline !== -1) return before.slice(newline + 1);
  return from === 0 ? before : `x${before}`;
}

/**
 * Implicit keys go-yaml does not take as keys: one spread over two lines, or with its `:` on the
 * next (the yaml package takes `{a\n b: c}` as the key "a b"), or longer than go-yaml looks back
 * for its `:`. Keys written with `?` are not held to this (a block scalar key always is one).
 */
export function checkImplicitKeys(doc: Document, source: string): { index: number; message: string } | undefined {
  let found: { index: number; message: string } | undefined;
  visit(doc, {
    Pair(_key, pair, path) {
      const key = pair.key as Node | null;
      if (!key?.range || (isScalar(key) && (key.type === Scalar.BLOCK_LITERAL || key.type === Scalar.BLOCK_FOLDED))) return;
      if (EXPLICIT_KEY.test(textBeforeOnLine(source, key.range[0]))) return;
      const indicator = /^\s*:/.exec(source.slice(key.range[1], key.range[1] + IMPLICIT_KEY_REACH));
      if (!indicator) return;
      const colon = key.range[1] + indicator[0].length - 1;
      // In a flow collection the key starts at its tag or anchor, which may stand on a line above.
      const inFlow = path.some((parent) => (isMap(parent) || isSeq(parent)) && parent.flow === true);
      const properties = inFlow ? (/(?:[!&][^\s,[\]{}]*\s+)+$/.exec(source.slice(Math.max(0, key.range[0] - IMPLICIT_KEY_REACH), key.range[0]))?.[0] ?? '') : '';
      if (properties.includes('\n') || source.slice(key.range[0], colon).includes('\n') || colon - key.range[0] > IMPLICIT_KEY_REACH) {
        found = { index: key.range[0], message: 'a key over more than one line or longer than 1000 characters, which kubectl does not read as a key; write it on one line, or after ?' };
        return visit.BREAK;
      }
      return undefined;
    },
  });
  return found;
}
