// Reads manifests the way `kubectl apply -f` takes them: YAML streams (YAML 1.1, as kubectl's
// parser reads them) and JSON, from files, directories or stdin, with List kinds unwrapped. The
// objects come out as plain JSON-shaped data, exactly what the apiserver would send a webhook.
// The yaml package parses; go-yaml.ts decides what each node is, as kubectl's go-yaml v2 does; a
// manifest whose reading by kubectl is not emulated is refused, never read some other way.
import type { Dirent } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { LineCounter, Scalar, isPair, isScalar, parseAllDocuments, visit, type Document, type Node, type Tags } from 'yaml';
import { KubectlDecoder, KubectlYamlError, checkImplicitKeys, checkScalarSources, checkTabs, checkTagsAndAnchors, type BlockScalarSpan } from './go-yaml.js';
import type { KubernetesObject } from '../admission/types.js';
import { ErrorCodes, TollgateError, describeError } from '../errors.js';

/** The name `-` (stdin) is shown as. */
export const STDIN = '-';
/** Extensions taken from a directory; a file named on the command line is read whatever its name. */
export const MANIFEST_EXTENSIONS = ['.yaml', '.yml', '.json'] as const;
/** YAML aliases a document may expand (a bound against "billion laughs" documents). */
export const MAX_ALIAS_COUNT = 100;

/** One object from a manifest, and where it was found. */
export interface ManifestDocument {
  /** The file as named (joined with the path found under a directory), `-` for stdin. */
  file: string;
  /** 1-based position of the YAML document in the file, empty documents counted. */
  document: number;
  /** Index in the `items` of the List the object came from, if it did. */
  item?: number;
  /** 1-based line the document starts on, when known. */
  line?: number;
  object: KubernetesObject;
}

/** Where a document was found: `file#document`, and `.items[i]` for a list's item. */
export function documentLocation(document: ManifestDocument): string {
  return `${document.file}#${document.document}${document.item === undefined ? '' : `.items[${document.item}]`}`;
}

/**
 * kubectl parses YAML 1.1 (go-yaml v2): `0644` is octal and `yes` is a boolean there, but a
 * timestamp or `12:30` stays a string, and so does a float without a digit (`.`, `e5`), which
 * go-yaml fails to parse as a number. The yaml package's 1.1 schema, without the timestamp and
 * sexagesimal tags and with floats that need a digit, comes close; parseManifests takes only the
 * structure from it (go-yaml.ts resolves every scalar as go-yaml does), other YAML readers of the
 * project (fixture suites) its values too.
 */
const FLOAT = /^[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9][0-9_]*)$/;
const FLOAT_EXP = /^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$/;

function kubectlTags(tags: Tags): Tags {
  return tags
    .filter((tag) =>
      typeof tag === 'string'
        ? tag !== 'timestamp' && tag !== 'intTime' && tag !== 'floatTime'
        : tag.tag !== 'tag:yaml.org,2002:timestamp' && tag.format !== 'TIME',
    )
    .map((tag) => {
      if (typeof tag === 'string' || tag.tag !== 'tag:yaml.org,2002:float' || !('test' in tag) || !tag.test) return tag;
      if (tag.format === 'EXP') return { ...tag, test: FLOAT_EXP };
      return tag.test.test('1.5') ? { ...tag, test: FLOAT } : tag;
    });
}

/** Parse options close to kubectl's reading (see above); duplicate keys are an error rather than a guess. */
export const KUBECTL_YAML = { version: '1.1', customTags: kubectlTags, uniqueKeys: true, prettyErrors: false } as const;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describeType(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  return `a ${typeof value}`;
}

function where(file: string, document: number, line?: number, item?: number): string {
  return `${file}: document ${document}${item === undefined ? '' : ` items[${item}]`}${line === undefined ? '' : ` (line ${line})`}`;
}

function parseError(message: string, cause?: unknown): TollgateError {
  return new TollgateError(ErrorCodes.TG_ERR_MANIFEST_PARSE, message, cause === undefined ? undefined : { cause });
}

/**
 * Adds one parsed document (or, for a list, each of its items) to `out`. kubectl reads any object
 * with an `items` member as a list, whatever its kind (apimachinery's unstructured decoding), and
 * applies the items, not the object: an item with neither apiVersion nor kind takes the list's
 * apiVersion and its kind without the `List` suffix (a `Pod` with `items` applies Pods). An item
 * that is a list in turn fails kubectl (its flattening finds no Items field), so it is refused.
 */
function collect(value: unknown, at: Omit<ManifestDocument, 'object'>, out: ManifestDocument[], inList = false): void {
  const place = where(at.file, at.document, at.line, at.item);
  if (!isRecord(value)) throw parseError(`${place}: is ${describeType(value)}, not a Kubernetes object`);
  const { apiVersion, kind, items } = value;
  if (typeof apiVersion !== 'string' || apiVersion === '' || typeof kind !== 'string' || kind === '') {
    throw parseError(`${place}: a Kubernetes object needs apiVersion and kind`);
  }
  // apimachinery finds no kind at all in an object whose apiVersion has two slashes or more.
  if (apiVersion.split('/').length > 2) throw parseError(`${place}: apiVersion ${JSON.stringify(apiVersion)} is not group/version, and kubectl fails on it`);
  if (kind === 'List' || Object.hasOwn(value, 'items')) {
    if (!Array.isArray(items)) {
      throw parseError(items === undefined ? `${place}: a ${kind} needs an items list` : `${place}: items is ${describeType(items)}; kubectl reads an object with items (a ${kind} here) as a list of them`);
    }
    if (inList) throw parseError(`${place}: a list (an object with items) inside a list, which kubectl fails on`);
    const itemKind = kind.endsWith('List') ? kind.slice(0, -'List'.length) : kind;
    items.forEach((item, index) => {
      const untyped = isRecord(item) && !item.apiVersion && !item.kind && itemKind !== '';
      collect(untyped ? { ...item, apiVersion, kind: itemKind } : item, { ...at, item: index }, out, true);
    });
    return;
  }
  // kubectl does not check a list item's metadata (below), but overwrites a namespace that is not
  // a string, and the apiserver fails on the other misfits: either way a policy here would judge
  // metadata that no webhook sees.
  if (inList && Object.hasOwn(value, 'metadata') && !hasGoFields(value.metadata, OBJECT_META)) {
    throw parseError(`${place}: metadata does not fit the types kubectl and the apiserver decode it into (labels and annotations are strings, times RFC 3339)`);
  }
  out.push({ ...at, object: value as KubernetesObject });
}

/** RFC 3339 times that Go's time.Parse surely takes (kubectl checks metadata times with it). */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:Z|[+-](\d{2}):(\d{2}))$/;

function isGoTime(value: unknown): boolean {
  if (value === null) return true;
  const match = typeof value === 'string' ? RFC3339.exec(value) : null;
  if (!match) return false;
  const [year, month, day, hour, minute, second, zoneHour, zoneMinute] = match.slice(1).map((part) => Number(part ?? 0)) as [number, number, number, number, number, number, number, number];
  const days = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return month >= 1 && month <= 12 && day >= 1 && day <= days && hour < 24 && minute < 60 && second < 60 && zoneHour < 24 && zoneMinute < 60;
}

const isGoString = (value: unknown) => value === null || typeof value === 'string';
const isGoBool = (value: unknown) => value === null || typeof value === 'boolean';
/** An int64 field: kubectl's JSON holds a whole number there, written without a point or exponent. */
const isGoInt64 = (value: unknown) => value === null || (typeof value === 'number' && Number.isInteger(value) && Math.abs(value) < 2 ** 63);
const isGoObject = (value: unknown): value is Record<string, unknown> | null => value === null || isRecord(value);

function isGoArrayOf(value: unknown, element: (item: unknown) => boolean): boolean {
  return value === null || (Array.isArray(value) && value.every(element));
}

function hasGoFields(value: unknown, fields: Record<string, (field: unknown) => boolean>): boolean {
  return isGoObject(value) && (value === null || Object.entries(fields).every(([name, valid]) => !Object.hasOwn(value, name) || valid(value[name])));
}

/** ObjectMeta's fields with the Go types kubectl decodes them into (the others it ignores). */
const OBJECT_META: Record<string, (field: unknown) => boolean> = {
  name: isGoString,
  clusterName: isGoString,
  generateName: isGoString,
  namespace: isGoString,
  selfLink: isGoString,
  uid: isGoString,
  resourceVersion: isGoString,
  generation: isGoInt64,
  creationTimestamp: isGoTime,
  deletionTimestamp: isGoTime,
  deletionGracePeriodSeconds: isGoInt64,
  labels: (labels) => isGoObject(labels) && (labels === null || Object.values(labels).every(isGoString)),
  annotations: (annotations) => isGoObject(annotations) && (annotations === null || Object.values(annotations).every(isGoString)),
  ownerReferences: (references) =>
    isGoArrayOf(references, (reference) =>
      hasGoFields(reference, { apiVersion: isGoString, kind: isGoString, name: isGoString, uid: isGoString, controller: isGoBool, blockOwnerDeletion: isGoBool }),
    ),
  finalizers: (finalizers) => isGoArrayOf(finalizers, isGoString),
  managedFields: (entries) =>
    isGoArrayOf(entries, (entry) =>
      hasGoFields(entry, { manager: isGoString, operation: isGoString, apiVersion: isGoString, time: isGoTime, fieldsType: isGoString, subresource: isGoString }),
    ),
};

/**
 * kubectl decodes each document's apiVersion, kind and metadata into their Go types before it
 * takes the document (cli-runtime's metadataValidatingDecoder), and fails on the document when
 * one does not fit: `labels: {on: yes}` (a boolean label) is such a manifest. The items of a list
 * are not checked there; collect() checks them.
 */
function checkMetadata(value: unknown, place: string): void {
  if (!isRecord(value)) return;
  if (!isGoString(value.apiVersion) || !isGoString(value.kind)) return; // collect() refuses these
  if (Object.hasOwn(value, 'metadata') && !hasGoFields(value.metadata, OBJECT_META)) {
    throw parseError(`${place}: metadata does not fit the types kubectl decodes it into (labels and annotations are strings, times RFC 3339), so kubectl fails on the document`);
  }
}

/**
 * Line breaks that kubectl and this reader take differently: NEL, LS and PS break lines for
 * kubectl's YAML 1.1 parser (go-yaml v2) only, and a lone CR ends a line there but not a document
 * in kubectl's splitter, which cuts at LF.
 */
const ONE_SIDED_BREAK = /[\u0085\u2028\u2029]|\r(?!\n)/;

/** Stands for a pair without a key (`: x`) in duplicateKeyOffset: two of them in one mapping are duplicates to the yaml package. */
const NO_KEY = Symbol('no key');

/**
 * The offset of the first key that repeats an earlier key of its mapping, by the yaml package's own
 * rule (the same node, or scalars of equal values: a `<<` is a new symbol each time, NaN equals
 * nothing), or undefined. The yaml package's `uniqueKeys` check compares each key with every key
 * before it: a mapping of 40,000 keys took 15 s to read, and one of 200,000 (2.5 MB) minutes.
 */
function duplicateKeyOffset(doc: Document): number | undefined {
  let found: number | undefined;
  visit(doc, {
    Map(_key, map) {
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        const key = pair.key as Node | null;
        const value: unknown = key === null ? NO_KEY : isScalar(key) ? key.value : key;
        if (typeof value === 'number' && Number.isNaN(value)) continue;
        if (seen.has(value)) {
          found = key?.range?.[0] ?? (pair.value as Node | null)?.range?.[0] ?? map.range?.[0] ?? 0;
          return visit.BREAK;
        }
        seen.add(value);
      }
      return undefined;
    },
  });
  return found;
}

/** The 1-based line of a character offset in JSON text. */
function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** A UTF-16 surrogate on its own: JSON can escape one, go-yaml refuses one, Go's JSON makes it U+FFFD. */
const LONE_SURROGATE = /\p{Cs}/u;
/** JSON nesting taken: about what the yaml package follows in YAML, well within kubectl's 10000. */
const MAX_JSON_DEPTH = 1000;

/** ObjectMeta's int64 fields: Go's JSON decoding fails on a number written `1.0` or `1e3` there. */
const METADATA_INT64_FIELDS: ReadonlySet<string> = new Set(['generation', 'deletionGracePeriodSeconds']);

/**
 * The first of metadata's int64 fields (any occurrence, duplicates included) that JSON text writes
 * with a point or an exponent, read from the text, since JSON.parse makes `1.0` the number 1. The
 * text is valid JSON (JSON.parse took it).
 */
function metadataIntWrittenAsFloat(json: string): string | undefined {
  // Per open object, the key it is the value of; arrays are `null`.
  const open: Array<string | undefined | null> = [];
  let key: string | undefined;
  for (let i = 0; i < json.length; i++) {
    const c = json[i]!;
    if (c === '"') {
      const start = i;
      for (i++; json[i] !== '"'; i++) if (json[i] === '\\') i++;
      let next = i + 1;
      while (next < json.length && ' \t\n\r'.includes(json[next]!)) next++;
      key = json[next] === ':' ? (JSON.parse(json.slice(start, i + 1)) as string) : undefined;
    } else if (c === '{' || c === '[') {
      open.push(c === '{' ? key : null);
      key = undefined;
    } else if (c === '}' || c === ']') {
      open.pop();
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      const start = i;
      while (i + 1 < json.length && /[-+.eE0-9]/.test(json[i + 1]!)) i++;
      const inMetadata = open.length === 2 && open[0] === undefined && open[1] === 'metadata';
      if (inMetadata && key !== undefined && METADATA_INT64_FIELDS.has(key) && /[.eE]/.test(json.slice(start, i + 1))) return key;
      key = undefined;
    }
  }
  return undefined;
}

/**
 * What a JSON document holds that kubectl would read otherwise: a number beyond float64 (JSON.parse
 * makes it Infinity, kubectl fails), a lone surrogate escape (kubectl makes it U+FFFD), and an
 * int64 field of metadata written `1.0` (kubectl fails on it; JSON.parse makes it 1).
 */
function checkJSONValue(value: unknown, source: string, place: string): void {
  // A stack, not recursion: JSON.parse takes nesting deeper than the call stack (and than
  // kubectl's JSON decoding, which stops at 10000 levels).
  const pending: Array<[unknown, number]> = [[value, 0]];
  while (pending.length > 0) {
    const [node, depth] = pending.pop()!;
    if (typeof node === 'number' && !Number.isFinite(node)) throw parseError(`${place}: a number too large for kubectl's JSON decoding`);
    if (typeof node === 'string' && LONE_SURROGATE.test(node)) throw parseError(`${place}: a lone surrogate escape (\\uD800-\\uDFFF), which kubectl reads as U+FFFD`);
    if (depth > MAX_JSON_DEPTH) throw parseError(`${place}: nested deeper than ${MAX_JSON_DEPTH} levels`);
    if (Array.isArray(node)) for (const item of node) pending.push([item, depth + 1]);
    else if (isRecord(node)) for (const [key, item] of Object.entries(node)) pending.push([key, depth], [item, depth + 1]);
  }
  const field = isRecord(value) && isRecord(value.metadata) ? metadataIntWrittenAsFloat(source) : undefined;
  if (field !== undefined) throw parseError(`${place}: metadata.${field} written with a point or an exponent, which kubectl's decoding into an integer fails on`);
}

/**
 * Characters go-yaml refuses ("control characters are not allowed"): anything outside tab, LF, CR
 * and the printable ranges. U+FEFF is a byte order mark to it at the start of a document only,
 * where kubectl's splitting puts it elsewhere than the yaml package does, so it is refused past
 * the first character too.
 */
const NOT_READ_BY_KUBECTL = /[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufefe\uff00-\ufffd\u{10000}-\u{10ffff}]/u;

/**
 * Lines kubectl splits a YAML stream at: any line starting with `---` (it fails on one with more
 * on it than a comment), where YAML ends a document only at `---` followed by a space, a tab or
 * the line end. Taken as they are only where both agree: `---`, then blanks and a comment.
 */
const SEPARATOR_LINE = /^---.*$/gm;
const PLAIN_SEPARATOR = /^---(?:[ \t]+(?:#.*)?)?\r?$/;

/** Characters and lines that kubectl's splitting and parsing read otherwise, or fail on. */
function checkYamlText(source: string, file: string): void {
  const refuse = (index: number, why: string) => {
    throw parseError(`${file} (line ${lineAt(source, index)}): ${why}`);
  };
  const oneSidedBreak = ONE_SIDED_BREAK.exec(source);
  if (oneSidedBreak) {
    const code = `U+${oneSidedBreak[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
    refuse(
      oneSidedBreak.index,
      `${code}${code === 'U+000D' ? ' without a line feed' : ''} is a line break to kubectl's YAML reading and not to this one, so the two would read different objects; remove it, or write it escaped in a double-quoted string`,
    );
  }
  const unread = NOT_READ_BY_KUBECTL.exec(source);
  if (unread) {
    const code = `U+${unread[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
    refuse(unread.index, `${code} is a character kubectl's YAML reading refuses or reads otherwise; remove it, or write it escaped in a double-quoted string`);
  }
  for (const line of source.matchAll(SEPARATOR_LINE)) {
    if (!PLAIN_SEPARATOR.test(line[0])) {
      refuse(line.index, `${JSON.stringify(line[0].replace(/\r$/, ''))}: kubectl splits documents at every line starting with ---, and fails on one that holds more than a comment; put the content on the next line`);
    }
  }
  const directive = /^%/m.exec(source);
  if (directive) refuse(directive.index, 'a directive (%YAML, %TAG, ...): kubectl fails on it; remove it');
}

/** A document's contents when it has none: nothing, or an empty plain scalar without a tag or anchor. */
function isEmptyNode(node: unknown): boolean {
  return node === null || (isScalar(node) && node.source === '' && node.tag === undefined && node.anchor === undefined && node.type === Scalar.PLAIN);
}

/**
 * kubectl reads a stream that starts with a JSON object as JSON up to that object's end, and the
 * rest as YAML from there; the yaml package reads it all as YAML, the object as a flow mapping that
 * the first document goes on after. The two agree when a `---` line follows the object.
 */
function checkLeadingJSON(source: string, file: string): void {
  const begin = source.search(/\S/);
  if (source[begin] !== '{') return;
  let depth = 0;
  let end = -1;
  for (let i = begin; i < source.length && end === -1; i++) {
    const c = source[i];
    if (c === '"') {
      for (i++; i < source.length && source[i] !== '"'; i++) if (source[i] === '\\') i++;
    } else if (c === '{' || c === '[') depth++;
    else if ((c === '}' || c === ']') && --depth === 0) end = i + 1;
  }
  if (end === -1) return;
  let value: unknown;
  try {
    value = JSON.parse(source.slice(0, end));
  } catch {
    return; // not JSON: kubectl reads the stream as YAML from its start, as this reader does
  }
  if (!/^[ \t]*\r?\n---(?:[ \t]+(?:#.*)?)?\r?(?:\n|$)/.test(source.slice(end))) {
    throw parseError(`${file} (line ${lineAt(source, end)}): a JSON object followed by more YAML: kubectl reads the object as JSON and what follows as YAML from there; put a --- line after it`);
  }
  // Read as YAML here, the object must not hold what kubectl's JSON reading of it takes otherwise.
  checkJSONValue(value, source.slice(0, end), where(file, 1, 1));
}

/**
 * Parses one file's text into its objects. JSON text (it starts with `{` or `[`) is read as
 * JSON, as kubectl does; anything else as a YAML stream. Empty documents are skipped.
 */
export function parseManifests(text: string, file: string): ManifestDocument[] {
  const source = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const out: ManifestDocument[] = [];
  const first = source.trimStart()[0];
  if (first === '{' || first === '[') {
    let value: unknown;
    let failure: unknown;
    try {
      value = JSON.parse(source);
    } catch (err) {
      failure = err;
    }
    if (failure === undefined) {
      const place = where(file, 1, 1);
      checkJSONValue(value, source, place);
      checkMetadata(value, place);
      collect(value, { file, document: 1, line: 1 }, out);
      return out;
    }
    if (file.toLowerCase().endsWith('.json')) {
      const position = /position (\d+)/.exec(describeError(failure));
      const line = position ? ` (line ${lineAt(source, Number(position[1]))})` : '';
      throw parseError(`${file}${line}: not valid JSON: ${describeError(failure)}`, failure);
    }
    // Not JSON after all: a YAML flow mapping such as `{a: b}` also starts with `{`.
  }

  checkYamlText(source, file);
  checkLeadingJSON(source, file);
  const lineCounter = new LineCounter();
  // Duplicate keys are looked for below, in linear time (duplicateKeyOffset).
  const documents = parseAllDocuments(source, { ...KUBECTL_YAML, uniqueKeys: false, lineCounter });
  if ('empty' in documents) {
    const error = documents.errors[0];
    if (error) throw parseError(`${file}: ${error.message.split('\n')[0]}`, error);
    return out;
  }
  const blockScalars: BlockScalarSpan[] = [];
  const values = documents.map((doc, index) => {
    const document = index + 1;
    const start = doc.contents?.range?.[0] ?? doc.range[0];
    const line = lineCounter.linePos(start).line;
    const error = doc.errors[0];
    if (error) {
      const errorLine = lineCounter.linePos(error.pos[0]).line;
      throw parseError(`${where(file, document, errorLine)}: ${error.message.split('\n')[0]}`, error);
    }
    const duplicate = duplicateKeyOffset(doc);
    if (duplicate !== undefined) throw parseError(`${where(file, document, lineCounter.linePos(duplicate).line)}: Map keys must be unique`);
    // After `...` YAML starts a document without `---`; kubectl's parser reads one document per
    // `---` and drops whatever follows the `...`.
    if (index > 0 && doc.directives.docStart !== true) {
      throw parseError(`${where(file, document, line)}: a document after ... without ---, which kubectl ignores; start it with ---`);
    }
    // kubectl's parser fails on a `...` that ends no document.
    if (doc.directives.docEnd && isEmptyNode(doc.contents)) throw parseError(`${where(file, document, line)}: ... ending an empty document, which kubectl fails on`);
    const at = (err: KubectlYamlError) => {
      const node = isPair(err.node) ? ((err.node.key ?? err.node.value) as Node | null) : err.node;
      const offset = node?.range?.[0];
      return where(file, document, offset === undefined ? line : lineCounter.linePos(offset).line);
    };
    try {
      blockScalars.push(...checkScalarSources(doc, source));
      const key = checkImplicitKeys(doc, source);
      if (key) throw parseError(`${where(file, document, lineCounter.linePos(key.index).line)}: ${key.message}`);
      if (doc.contents === null) return { document, line, value: null };
      return { document, line, value: new KubectlDecoder(doc, { maxAliasCount: MAX_ALIAS_COUNT }).value() };
    } catch (err) {
      // The yaml package reports nesting deeper than the call stack as a document error; the
      // checks and the decoding here meet it as a RangeError.
      if (err instanceof RangeError) throw parseError(`${where(file, document, line)}: nested deeper than this reader follows`, err);
      if (!(err instanceof KubectlYamlError)) throw err;
      throw parseError(`${at(err)}: ${err.message}`, err);
    }
  });
  const spelling = checkTabs(source, blockScalars) ?? checkTagsAndAnchors(source);
  if (spelling) throw parseError(`${file} (line ${lineAt(source, spelling.index)}): ${spelling.message}`);
  for (const { document, line, value } of values) {
    if (value === null) continue;
    checkMetadata(value, where(file, document, line));
    collect(value, { file, document, line }, out);
  }
  return out;
}

async function readStream(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks);
}

/**
 * A manifest file's text. kubectl's parser fails on bytes that are not UTF-8 (decoding them with
 * replacement characters would read something else); it reads UTF-16 with a byte order mark, which
 * this reader does not, so that is refused too.
 */
export function decodeManifest(bytes: Uint8Array, file: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch (err) {
    const utf16 = bytes.length >= 2 && ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff));
    throw parseError(`${file}: ${utf16 ? 'UTF-16, which this reader does not read; save it as UTF-8' : 'not UTF-8, which kubectl fails on'}`, err);
  }
}

function readError(file: string, err: unknown): TollgateError {
  return new TollgateError(ErrorCodes.TG_ERR_MANIFEST_READ, `${file}: cannot read: ${describeError(err)}`, { cause: err });
}

function isManifestFile(name: string): boolean {
  const lower = name.toLowerCase();
  return MANIFEST_EXTENSIONS.some((ext) => lower.endsWith(ext));
}

/** Every manifest file under `dir`, recursively, in a stable (sorted) order. Symlinked directories are not followed. */
async function walk(dir: string): Promise<string[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    throw readError(dir, err);
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const files: string[] = [];
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await walk(full)));
    else if (isManifestFile(entry.name) && (entry.isFile() || (entry.isSymbolicLink() && (await stat(full).catch(() => undefined))?.isFile()))) {
      files.push(full);
    }
  }
  return files;
}

export interface ReadManifestsOptions {
  /** Where `-` reads from. */
  stdin?: Readable;
}

/**
 * Reads every object from the inputs, in order: files, directories (walked for .yaml, .yml and
 * .json) and `-` for stdin. Throws a TollgateError naming the file, document and line at fault,
 * and when the inputs hold no object at all (a pipeline pointed at the wrong place must not pass).
 */
export async function readManifests(inputs: readonly string[], options: ReadManifestsOptions = {}): Promise<ManifestDocument[]> {
  const out: ManifestDocument[] = [];
  let stdinRead = false;
  for (const input of inputs) {
    if (input === STDIN) {
      if (stdinRead) throw new TollgateError(ErrorCodes.TG_ERR_USAGE, '- (stdin) can be given only once');
      if (!options.stdin) throw new TollgateError(ErrorCodes.TG_ERR_USAGE, '- (stdin) is not available');
      stdinRead = true;
      const bytes = await readStream(options.stdin).catch((err: unknown) => Promise.reject(readError(STDIN, err)));
      out.push(...parseManifests(decodeManifest(bytes, STDIN), STDIN));
      continue;
    }
    let files: string[];
    try {
      files = (await stat(input)).isDirectory() ? await walk(input) : [input];
    } catch (err) {
      throw err instanceof TollgateError ? err : readError(input, err);
    }
    for (const file of files) {
      let bytes: Buffer;
      try {
        bytes = await readFile(file);
      } catch (err) {
        throw readError(file, err);
      }
      out.push(...parseManifests(decodeManifest(bytes, file), file));
    }
  }
  if (out.length === 0) throw new TollgateError(ErrorCodes.TG_ERR_MANIFEST_READ, `no Kubernetes objects found in ${inputs.join(', ')}`);
  return out;
}
