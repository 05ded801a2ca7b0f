// Manifests for the differential fuzz of `tollgate check`'s reader against kubectl (check-fuzz.test.ts):
// Kubernetes objects written out as YAML (or JSON) with the spellings where YAML readers part ways
// drawn often: anchors, aliases and merges, tags, flow and block styles, every quoting style and
// block scalar header, YAML 1.1 scalars, texts drawn a character at a time from the ones YAML's
// scanners care about, duplicate and complex keys, document markers and directives, BOMs, tabs,
// comments, CRLF and other line ends, odd Unicode, UTF-16 and bytes that are not UTF-8, deep
// nesting, and `items` or the keys a policy reads (image, initContainers, ...) where a second
// reading would hide them.
//
// A manifest is drawn as a tape of numbers that a writer consumes choice by choice (0, and the end
// of the tape, always mean the plainest choice), so fast-check shrinks a failure towards the
// plainest manifest that still fails.
import fc from 'fast-check';

export interface FuzzManifest {
  /** The file's bytes, as kubectl and `tollgate check` read them. */
  bytes: Uint8Array;
  /** The same as text, for messages (not exact when the bytes are not UTF-8). */
  text: string;
  /** How fast-check shows a failing manifest: by its text, not as a byte array. */
  [fc.toStringMethod]: () => string;
}

/**
 * What a manifest may do besides plain YAML. Each manifest takes a few of these, so that most
 * stay readable while every family is drawn often.
 */
const FEATURES = ['scalars', 'soup', 'styles', 'tags', 'anchors', 'merges', 'keys', 'flow', 'layout', 'comments', 'documents', 'objects', 'breaks', 'bytes'] as const;
type Feature = (typeof FEATURES)[number];

/** Choices drawn from a tape; past its end every choice is 0. */
class Choices {
  private next = 0;
  private readonly features = new Set<Feature>();
  constructor(private readonly tape: readonly number[]) {
    for (const feature of FEATURES) if (this.pick(100) >= 80) this.features.add(feature);
  }
  /** A whole number in [0, n). */
  pick(n: number): number {
    const value = this.tape[this.next++] ?? 0;
    return value % n;
  }
  /** True with about the given chance when the manifest takes this feature (0 on the tape: false). */
  chance(percent: number, feature: Feature): boolean {
    const roll = this.pick(10_000);
    return this.features.has(feature) && roll >= 10_000 - percent * 100;
  }
  /** True with the given chance: a choice between two plain ways of writing. */
  either(percent: number): boolean {
    return this.pick(100) < percent;
  }
  oneOf<T>(options: readonly T[]): T {
    return options[this.pick(options.length)]!;
  }
}

/** Texts of scalars. Written plain, the YAML 1.1 ones are not strings to kubectl. */
const ORDINARY_SCALARS = [
  'nginx', 'app', 'web', 'x', 'hello world', 'evil.io/x', 'a-b_c.d', 'v1', 'key=value', 'multi\nline', 'a\n  more\nb', 'x\n\n', '\nx', 'a\tb', 'trailing ',
  'ünïcödé', 'snow☃', '😀', 'x'.repeat(1100),
];
const YAML11_SCALARS = [
  '', 'yes', 'no', 'on', 'off', 'y', 'n', 'Y', 'N', 'Yes', 'NO', 'On', 'OFF', 'true', 'True', 'TRUE', 'false', 'null', 'Null',
  'NULL', '~', '0777', '0o777', '0x1F', '0X1f', '0b101', '-0b1', '+0x10', '1:20', '190:20:30', '-1:20', '1_000', '+1', '-0', '0',
  '00', '08', '0.', '.5', '1.', '1e3', '1E+3', '1.5e-3', '6.8523015e+5', '685.230_15e+03', '.inf', '-.Inf', '+.INF', '.NaN',
  '.nan', '2024-01-01', '2024-01-01T10:00:00Z', '2001-12-14t21:59:43.10-05:00', '2001-12-14 21:59:43.10 -5', '12:30',
  '12:30:00', '9223372036854775807', '9223372036854775808', '-9223372036854775809', '18446744073709551616',
  '123456789012345678901234567890', '9007199254740993', '1.7976931348623157e309', '0.1', '100000000.0', '=', '<<', '-', '?',
  '.', 'e5', '1e', 'a #b', 'a#b', '0x', '0b', '+', '.e1', '1__0', '0x_1F', '1_0.5', '+.5', '.5_0', '1e1_0', '1e-400', '4.9e-324',
  '1.7976931348623157e308', '1.7976931348623159e308', '0.1e1', '0B11', '0O17', '-0x8000000000000000', '0xFFFFFFFFFFFFFFFF',
];
/** Texts that mean something else than a scalar where they stand, unquoted. */
const SYNTAX_SCALARS = [
  '\u00a0nbsp', 'zero\u200bwidth', 'mid\ufeffbom', 'tab\tin', "it's", 'say "hi"', 'back\\slash', '@at', '`tick', '%pct', '!bang',
  '&amp', '*star', '|pipe', '>gt', 'a: b', '- a', '[a]', '{a: b}', 'a, b', '#hash', 'multi\n\nparagraph', ' leading',
];

const IMAGES = [
  'nginx', 'nginx:1.25', 'evil.io/x', 'evil.io/x/miner:1.0', 'registry.k8s.io/pause:3.9', 'docker.io/library/nginx',
  `nginx@sha256:${'a'.repeat(64)}`, `sha256:${'b'.repeat(64)}`, 'ghcr.io/evil/x', 'localhost:5000/x',
];

/** Tags that any scalar takes, and tags of a type (a scalar of another type fails kubectl with them). */
const STRING_TAGS = ['!!str', '!', '!foo', '!<tag:yaml.org,2002:str>', '!!merge'];
const TYPED_TAGS = ['!!int', '!!float', '!!bool', '!!null', '!!binary', '!!timestamp', '!e!x', '!a,b', '!a#b', '!<tag:yaml.org,2002:int>'];
const COLLECTION_TAGS = ['!!map', '!!seq', '!foo', '!', '!!omap', '!!set', '!!pairs', '!!str'];
const ANCHOR_NAMES = ['a', 'b', 'base', 'img', 'c1'];
/** Names that end elsewhere for kubectl than for other YAML readers. */
const ODD_ANCHOR_NAMES = ['a.b', 'x:', 'a,b'];
/** Keys that other readers of YAML turn into something else than their text. */
const TRICKY_KEYS = [
  'yes', 'on', 'y', 'N', 'true', '1', '0x10', '0777', '1.5', '1e3', '100000000.0', '~', 'null', '', '.inf', '.nan', '-0', '2024-01-01', '12:30', '1_0',
  'image ', 'Image', 'a:b', 'ünï', '__proto__', 'k'.repeat(1030),
];
const DIRECTIVES = ['%YAML 1.1', '%YAML 1.2', '%YAML 1.1 # c', '%TAG !e! tag:example.com,2000:', '%TAG ! tag:example.com,2000:', '%FOO bar'];

type Model = string | Model[] | { [key: string]: Model };

function isMap(model: Model): model is { [key: string]: Model } {
  return typeof model === 'object' && !Array.isArray(model);
}

/** A Kubernetes object, with the fields policies read, drawn from the tape. */
function object(c: Choices, depth = 0): { [key: string]: Model } {
  const kinds = ['Pod', 'Deployment', 'CronJob', 'ConfigMap', 'List', 'PodList', 'PodWithItems', 'Secret', 'Namespace'] as const;
  // A list in a list fails kubectl: drawn now and then only.
  const kind = depth === 0 || c.chance(10, 'objects') ? c.oneOf(kinds) : c.oneOf(['Pod', 'ConfigMap', 'Deployment', 'Secret'] as const);
  const container = (): { [key: string]: Model } => {
    const fields: { [key: string]: Model } = { name: c.oneOf(['app', 'c', 'side']), image: c.chance(20, 'scalars') ? scalarText(c) : c.oneOf(IMAGES) };
    if (c.either(20)) fields.imagePullPolicy = c.oneOf(['Always', 'IfNotPresent']);
    if (c.either(15)) fields.command = [scalarText(c), scalarText(c)];
    if (c.either(15)) fields.env = [{ name: 'A', value: scalarText(c) }];
    if (c.either(10)) fields.securityContext = { runAsUser: c.oneOf(['0', '1000', '0x0', '00', '-0', '1e3']), privileged: c.oneOf(['true', 'yes', 'on', 'false']) };
    return fields;
  };
  const containers = (): Model[] => Array.from({ length: 1 + c.pick(2) }, container);
  const podSpec = (): { [key: string]: Model } => {
    const spec: { [key: string]: Model } = { containers: containers() };
    if (c.either(25)) spec.initContainers = containers();
    if (c.either(15)) spec.ephemeralContainers = containers();
    if (c.either(10)) spec.volumes = [{ name: 'v', image: { reference: c.oneOf(IMAGES) } }];
    return spec;
  };
  const metadata = (): { [key: string]: Model } => {
    const meta: { [key: string]: Model } = { name: c.chance(10, 'scalars') ? scalarText(c) : c.oneOf(['p', 'web', 'decoy', 'smuggled']) };
    if (c.either(25)) meta.labels = { app: c.either(30) ? scalarText(c) : 'web' };
    if (c.either(15)) meta.annotations = { note: scalarText(c) };
    if (c.either(8)) meta.namespace = c.oneOf(['default', 'ns', 'e2e']);
    return meta;
  };
  const items = (): Model[] =>
    Array.from({ length: c.pick(3) }, () => {
      if (c.either(50)) return { metadata: metadata(), spec: podSpec() };
      if (c.chance(10, 'objects')) return scalarText(c);
      return object(c, depth + 1);
    });

  let result: { [key: string]: Model };
  switch (kind) {
    case 'Pod':
      result = { apiVersion: 'v1', kind: 'Pod', metadata: metadata(), spec: podSpec() };
      break;
    case 'Deployment':
      result = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: metadata(), spec: { replicas: c.oneOf(['1', '0x2', '1.0']), template: { metadata: { labels: { app: 'web' } }, spec: podSpec() } } };
      break;
    case 'CronJob':
      result = { apiVersion: 'batch/v1', kind: 'CronJob', metadata: metadata(), spec: { schedule: c.oneOf(['* * * * *', '@hourly', '0 0 * * *']), jobTemplate: { spec: { template: { spec: podSpec() } } } } };
      break;
    case 'ConfigMap':
      result = { apiVersion: 'v1', kind: 'ConfigMap', metadata: metadata(), data: { a: scalarText(c), b: scalarText(c) } };
      break;
    case 'Secret':
      result = { apiVersion: 'v1', kind: 'Secret', metadata: metadata(), data: { a: c.oneOf(['ZXZpbC5pby94', 'bmdpbng=', scalarText(c)]) }, stringData: { b: scalarText(c) } };
      break;
    case 'Namespace':
      result = { apiVersion: 'v1', kind: 'Namespace', metadata: metadata() };
      break;
    case 'List':
      result = { apiVersion: 'v1', kind: 'List', items: items() };
      break;
    case 'PodList':
      result = { apiVersion: 'v1', kind: 'PodList', items: items() };
      break;
    case 'PodWithItems':
      result = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'decoy' }, spec: podSpec(), items: items() };
      break;
  }
  // Damage that kubectl and the reader must both notice, or both survive.
  if (c.chance(8, 'objects')) delete result.apiVersion;
  if (c.chance(8, 'objects')) result.kind = scalarText(c);
  if (c.chance(8, 'objects')) result.items = c.oneOf([scalarText(c), {}, '~', []]);
  // Fields a policy reads, written in through a merge of the object itself.
  if (c.chance(5, 'merges')) result['<<'] = { kind: 'Pod', apiVersion: 'v1' };
  if (c.chance(15, 'objects')) result.metadata = c.either(50) ? scalarText(c) : { name: 'p', labels: scalarText(c), generation: scalarText(c), creationTimestamp: scalarText(c) };
  return result;
}

/** Characters YAML's scanners care about, for texts drawn a character at a time. */
const SOUP = ['x', 'y', ' ', ' ', '\n', '\n', '\\', 'n', '\t', '#', ':', '"', "'", '-', '?', ',', '[', ']', '{', '}', '|', '>', '&', '*', '!', '%', '@', '`', '\r\n', '0', '.', 'e', '+', '~', '\u00a0', 'é'];

function scalarText(c: Choices): string {
  if (c.chance(30, 'soup')) return Array.from({ length: c.pick(14) }, () => c.oneOf(SOUP)).join('');
  if (!c.chance(60, 'scalars')) return c.oneOf(ORDINARY_SCALARS);
  return c.oneOf(c.either(90) ? YAML11_SCALARS : SYNTAX_SCALARS);
}

/** Properties (`!tag`, `&anchor`) drawn for a node; the anchor is defined once the node is written. */
interface Properties {
  text: string;
  anchor?: string;
}

/** Writes a model as YAML, drawing its spelling from the tape. */
class Writer {
  /** Anchors defined so far in the document, and whether each names a map (what a merge takes). */
  private readonly anchors = new Map<string, boolean>();
  constructor(private readonly c: Choices) {}

  document(model: Model): string {
    this.anchors.clear();
    const c = this.c;
    // Holders of anchors above the object, for merges and aliases further down.
    if (isMap(model) && (c.chance(60, 'anchors') || c.chance(60, 'merges'))) {
      const holder: { [key: string]: Model } = {};
      holder['x-base'] = { image: c.oneOf(IMAGES), imagePullPolicy: 'Always' };
      if (c.either(50)) holder['x-other'] = { image: c.oneOf(IMAGES), tty: 'true' };
      model = { ...holder, ...model };
    }
    if (c.chance(20, 'flow')) return `${this.inline(model, 0, true)}\n`;
    return this.block(model, 0);
  }

  private indent(n: number): string {
    return ' '.repeat(n);
  }

  /** A tag for a scalar: mostly one its text fits, so that most tagged manifests can be read. */
  private scalarTag(text: string): string {
    const c = this.c;
    if (c.either(50)) return c.oneOf(STRING_TAGS);
    if (c.either(80)) {
      if (/^[-+]?(?:0|[1-9][0-9]*|0x[0-9a-fA-F]+|0o?[0-7]+)$/.test(text)) return c.oneOf(['!!int', '!!float']);
      if (/^[-+]?(?:[0-9]*\.[0-9]+|[0-9]+\.?)(?:[eE][-+]?[0-9]+)?$/.test(text)) return '!!float';
      if (/^(?:y|yes|n|no|true|false|on|off)$/i.test(text)) return '!!bool';
      if (/^(?:|~|null)$/i.test(text)) return '!!null';
      if (/^[A-Za-z0-9+/]+={0,2}$/.test(text) && text.length % 4 === 0) return '!!binary';
    }
    return c.oneOf(TYPED_TAGS);
  }

  private properties(collection: boolean, text = ''): Properties {
    const c = this.c;
    const tag = c.chance(collection ? 10 : 15, 'tags') ? `${collection ? c.oneOf(COLLECTION_TAGS) : this.scalarTag(text)} ` : '';
    if (!c.chance(15, 'anchors')) return { text: tag };
    const anchor = c.oneOf(c.chance(10, 'anchors') ? ODD_ANCHOR_NAMES : ANCHOR_NAMES);
    return { text: c.either(50) ? `&${anchor} ${tag}` : `${tag}&${anchor} `, anchor };
  }

  private define(properties: Properties, model: Model): void {
    if (properties.anchor !== undefined) this.anchors.set(properties.anchor, isMap(model));
  }

  /** An alias to an anchor written above, mostly to one of the same shape. */
  private alias(model: Model): string | undefined {
    const c = this.c;
    const names = [...this.anchors].filter(([, map]) => map === isMap(model) || c.chance(10, 'anchors')).map(([name]) => name);
    if (names.length === 0) return c.chance(5, 'anchors') ? '*nowhere' : undefined;
    return `*${c.oneOf(names)}`;
  }

  private scalar(text: string, indent: number, flow: boolean): string {
    const c = this.c;
    const style = c.chance(50, 'styles') ? c.pick(6) : 0;
    const continuation = `\n${this.indent(indent + 2)}`;
    switch (style) {
      case 1:
        return `'${text.replace(/'/g, "''").replace(/\n/g, `\n${continuation}`)}'`;
      case 2:
        return this.doubleQuoted(text, continuation);
      case 3:
      case 4: {
        if (flow) return JSON.stringify(text);
        const header = (style === 3 ? '|' : '>') + c.oneOf(['', '', '-', '+', '2', '-2', '1+']);
        const lines = text.split('\n').map((line) => (line === '' ? '' : `${this.indent(indent + 2)}${line}`));
        return `${header}${c.chance(20, 'comments') ? ' # c' : ''}\n${lines.join('\n')}`;
      }
      case 5:
        // A plain scalar over several lines.
        return text.replace(/\n/g, continuation).replace(/ /g, () => (c.chance(30, 'styles') ? continuation : ' '));
      default:
        return text.replace(/\n/g, `\n${continuation}`);
    }
  }

  private doubleQuoted(text: string, continuation: string): string {
    const c = this.c;
    let out = '"';
    for (const ch of text) {
      const code = ch.codePointAt(0)!;
      if (ch === '"' || ch === '\\') out += `\\${ch}`;
      else if (ch === '\n') out += c.either(50) ? '\\n' : `\n${continuation}`;
      else if (code < 0x20 || c.chance(10, 'styles')) {
        const escapes = [`\\x${code.toString(16).padStart(2, '0')}`, `\\u${code.toString(16).padStart(4, '0')}`, `\\U${code.toString(16).padStart(8, '0')}`];
        out += code <= 0xff ? c.oneOf(escapes) : code <= 0xffff ? c.oneOf(escapes.slice(1)) : escapes[2];
      } else out += ch;
      if (c.chance(5, 'styles')) out += c.oneOf(['\\N', '\\_', '\\L', '\\P', '\\e', '\\/', '\\t', '\\ ', '\\0', '\\a', `\\${continuation}`, '\\ud800', '\\x80']);
    }
    return `${out}"`;
  }

  /** A key as written; block keys written with `? ` end in a line break. */
  private key(key: string, flow: boolean, indent = 0): string {
    const c = this.c;
    if (c.chance(10, 'keys')) key = c.oneOf(TRICKY_KEYS);
    else if (c.chance(10, 'soup')) key = scalarText(c);
    if (c.chance(15, 'keys')) {
      const quote = c.pick(3);
      return quote === 0 ? JSON.stringify(key) : quote === 1 ? `'${key.replace(/'/g, "''")}'` : this.doubleQuoted(key, `\n${this.indent(indent + 2)}`);
    }
    if (c.chance(5, 'anchors')) {
      // An anchor on a key: its alias then stands for the key's text elsewhere.
      const anchor = c.oneOf(ANCHOR_NAMES);
      this.anchors.set(anchor, false);
      return `&${anchor} ${key}`;
    }
    if (c.chance(3, 'keys') && !flow) return `? |\n${this.indent(indent + 2)}${key}\n`;
    if (c.chance(8, 'keys') || c.chance(8, 'tags')) return `${this.scalarTag(key)} ${key}`;
    if (c.chance(3, 'keys')) {
      const alias = this.alias('');
      if (alias !== undefined) return `${alias} `;
    }
    if (c.chance(8, 'keys') && !flow) return `? ${key}\n`;
    return key;
  }

  /** A merge entry (`<<: ...`), or nothing. */
  private merge(): string | undefined {
    const c = this.c;
    if (!c.chance(25, 'merges')) return undefined;
    const spelling = !c.chance(20, 'merges') ? '<<' : c.oneOf(['"<<"', "'<<'", '!!merge <<', '! <<', '!!str <<', '! "<<"', '? <<\n']);
    const maps = [...this.anchors].filter(([, map]) => map).map(([name]) => `*${name}`);
    let value: string;
    switch (c.pick(4)) {
      case 1:
        value = `[${maps.slice(0, 1 + c.pick(Math.max(maps.length, 1))).join(', ')}]`;
        break;
      case 2:
        value = `{image: ${c.oneOf(IMAGES)}${c.either(50) ? ', tty: true' : ''}}`;
        break;
      case 3:
        value = c.chance(20, 'merges') ? c.oneOf(['x', '~', '[a]']) : '[{image: evil.io/x}, {imagePullPolicy: Never}]';
        break;
      default:
        value = maps.length > 0 ? c.oneOf(maps) : `{image: ${c.oneOf(IMAGES)}}`;
    }
    return `${spelling}: ${value}`;
  }

  /** Entries of a map with a merge and a duplicate drawn among them, in the order written. */
  private entries(model: { [key: string]: Model }, write: (key: string, value: Model) => string, writeMerge: (merge: string) => string): string[] {
    const c = this.c;
    const keys = Object.keys(model);
    const mergeAt = c.pick(keys.length + 1);
    const out: string[] = [];
    keys.forEach((key, index) => {
      if (index === mergeAt) {
        const merge = this.merge();
        if (merge !== undefined) out.push(writeMerge(merge));
      }
      out.push(write(key, model[key]!));
    });
    if (mergeAt === keys.length) {
      const merge = this.merge();
      if (merge !== undefined) out.push(writeMerge(merge));
    }
    // A key written twice, right after itself or further down.
    if (out.length > 0 && c.chance(5, 'keys')) out.splice(c.pick(out.length) + 1, 0, out[c.pick(out.length)]!);
    return out;
  }

  /** The model on one line: a scalar, an alias, or a flow collection. */
  private inline(model: Model, indent: number, flow: boolean): string {
    const c = this.c;
    if (typeof model !== 'string' && c.chance(20, 'anchors')) {
      const alias = this.alias(model);
      if (alias !== undefined) return alias;
    }
    const props = this.properties(typeof model !== 'string', typeof model === 'string' ? model : '');
    let written: string;
    if (typeof model === 'string') {
      written = this.scalar(model, indent, flow);
    } else {
      const separator = () =>
        (c.chance(10, 'flow') ? ' ,' : ',') + (c.chance(10, 'comments') ? ` # c\n${this.indent(indent + 2)}` : c.chance(10, 'flow') ? `\n${this.indent(indent + 2)}` : ' ');
      const trailing = c.chance(10, 'flow') ? ',' : '';
      if (Array.isArray(model)) {
        written = `[${model.map((item) => this.inline(item, indent, true)).join(separator())}${trailing}]`;
      } else {
        const entries = this.entries(model, (key, value) => `${this.key(key, true).trimEnd()}: ${this.inline(value, indent, true)}`, (merge) => merge);
        written = `{${entries.join(separator())}${trailing}}`;
      }
    }
    this.define(props, model);
    return `${props.text}${written}`;
  }

  /** The model as block lines at this indentation; a scalar on one line. */
  private block(model: Model, indent: number): string {
    const c = this.c;
    const pad = this.indent(indent);
    const comment = () => (c.chance(15, 'comments') ? ` # ${c.chance(30, 'soup') ? scalarText(c).replace(/\r?\n/g, ' ') : c.oneOf(['c', 'image: evil.io/x', '---', '"'])}` : '');
    const blankOrComment = () => (c.chance(10, 'comments') ? `${this.indent(c.pick(indent + 3))}# note\n` : c.chance(5, 'layout') ? '\n' : '');
    const flowHere = (value: Model) => typeof value === 'string' || c.chance(25, 'flow');
    if (typeof model === 'string') return `${pad}${this.inline(model, indent, false)}\n`;
    if (Array.isArray(model)) {
      if (model.length === 0) return `${pad}[]\n`;
      return model
        .map((item) => {
          if (flowHere(item)) return `${blankOrComment()}${pad}-${c.chance(10, 'layout') ? '\t' : ' '}${this.inline(item, indent + 2, false)}${comment()}\n`;
          const props = this.properties(true);
          const nested = this.block(item, indent + 2);
          this.define(props, item);
          // The nested block's first line on the dash line, or all of it below.
          if (props.text === '' && !c.chance(20, 'layout')) return `${blankOrComment()}${pad}- ${nested.slice(indent + 2)}`;
          return `${blankOrComment()}${pad}- ${props.text.trimEnd()}${comment()}\n${nested}`;
        })
        .join('');
    }
    if (Object.keys(model).length === 0) return `${pad}{}\n`;
    const entries = this.entries(
      model,
      (key, value) => {
        const written = this.key(key, false, indent);
        const head = `${blankOrComment()}${pad}${written}${written.endsWith('\n') ? pad : ''}:`;
        if (flowHere(value)) return `${head}${c.chance(10, 'layout') ? '\t' : ' '}${this.inline(value, indent, false)}${comment()}\n`;
        const props = this.properties(true);
        // A sequence may sit at its key's indentation.
        const nestedIndent = Array.isArray(value) && c.either(30) ? indent : indent + 2;
        const nested = this.block(value, nestedIndent);
        this.define(props, value);
        return `${head}${props.text === '' ? '' : ` ${props.text.trimEnd()}`}${comment()}\n${nested}`;
      },
      (merge) => `${pad}${merge.replace('\n', `\n${pad}`)}\n`,
    );
    return entries.join('');
  }
}

/** Deep nesting around a value: flow or block, to depths on both sides of the parsers' limits. */
function nest(c: Choices, model: Model): Model {
  const depth = c.oneOf([3, 30, 200, 1_100]);
  let nested = model;
  for (let i = 0; i < depth; i++) nested = c.either(50) ? [nested] : { n: nested };
  return nested;
}

/** One document: an object mostly, else the things a stream may hold between objects. */
function documentText(c: Choices, writer: Writer): string {
  switch (c.chance(40, 'documents') ? c.pick(7) : 0) {
    case 1:
      return '';
    case 2:
      return '# only a comment\n';
    case 3:
      return `${c.oneOf(['null', '~', 'x', '[]', '{}', '- a', '"s"', '!!null', '!!map {}', '&a {}'])}\n`;
    case 4: {
      // JSON, as kubectl takes a stream that starts with `{`.
      const model: Model = c.chance(10, 'objects') ? [object(c)] : object(c);
      let json = JSON.stringify(model, null, c.oneOf([0, 2, '\t']));
      // Values JSON spells in ways YAML, or Go, reads otherwise.
      if (c.chance(40, 'scalars')) {
        const literal = c.oneOf(['1.0', '-0', '1e400', '12345678901234567890', 'true', 'null', '"\\ud800"', '"\\u2028"', '"\\/x"', '"\\ud83d\\ude00"', '1E2', '0.5e-1']);
        json = json.replace(/("(?:value|runAsUser|replicas|generation)": ?)"[^"]*"/, `$1${literal}`);
      }
      if (c.chance(20, 'keys')) json = json.replace(/"name": ?"([^"]*)"/, (whole) => `${whole}, ${whole}`);
      if (c.chance(10, 'keys')) json = json.replace(/"metadata": ?\{/, '"metadata": {"__proto__": {"polluted": 1}, "generation": 1.0, ');
      return c.chance(10, 'documents') ? `${json} ${c.oneOf(['# c', '{}', 'x: y', '\u00a0'])}\n` : `${json}\n`;
    }
    case 5: {
      const model = object(c);
      const spec = model.spec;
      if (spec !== undefined && isMap(spec)) model.spec = { ...spec, deep: nest(c, 'x') };
      return writer.document(model);
    }
    case 6:
      return `${c.oneOf(['apiVersion: v1', 'kind: Pod', 'a: b'])}\n${c.oneOf(['...', '... # end', '...\nkind: Pod', '...\n---'])}\n`;
    default:
      return writer.document(object(c));
  }
}

/** The lines between documents. */
function separator(c: Choices, first: boolean): string {
  if (first && !c.chance(40, 'documents')) return '';
  if (c.chance(15, 'documents')) return `${c.oneOf(['---x', '--- |\n  x', '--- !!map', '--- &a', '--- {}', '--- >-', '--- a: b', ' ---', '----'])}\n`;
  return `${c.oneOf(['---', '---', '---', '--- # c', '---\t', '--- '])}\n`;
}

/** Line ends and characters that are breaks, spaces or neither depending on the reader. */
function damage(c: Choices, text: string): string {
  let out = text;
  if (c.chance(30, 'breaks')) out = out.replace(/\n/g, '\r\n');
  else if (c.chance(15, 'breaks')) out = out.replace(/\n/g, () => (c.either(30) ? '\r\n' : '\n'));
  if (c.chance(10, 'breaks')) out = out.replace(/\n/, c.oneOf(['\r', '\u0085', '\u2028', '\u2029', '\u000b', '\u000c']));
  if (c.chance(10, 'layout')) out = out.replace(/: /, `:${c.oneOf(['\t', '\u00a0', '\u3000', ' \t'])}`);
  if (c.chance(5, 'layout')) out = out.replace(/\n {2}/, `\n${c.oneOf(['\t', ' \t', '\u00a0 '])}`);
  if (c.chance(10, 'layout')) out = out.replace(/\n/g, () => (c.either(10) ? ' \n' : '\n'));
  if (c.chance(10, 'breaks')) out = out.replace(/\n(?=.)/, `\n${c.oneOf(['\ufeff', '\u200b', '\u0000', '\u007f', '\ud800'])}`);
  return out;
}

function encode(c: Choices, text: string): Uint8Array {
  const utf8 = Buffer.from(text, 'utf8');
  switch (c.chance(50, 'bytes') ? c.pick(4) : 0) {
    case 1: {
      // A byte that is not UTF-8.
      const at = c.pick(utf8.length + 1);
      return Buffer.concat([utf8.subarray(0, at), Buffer.from([c.oneOf([0xff, 0xc0, 0x80, 0xed])]), utf8.subarray(at)]);
    }
    case 2: {
      // UTF-16, with a byte order mark or without.
      const le = Buffer.from(`${c.either(80) ? '\ufeff' : ''}${text}`, 'utf16le');
      if (c.either(50)) return le;
      const be = Buffer.from(le);
      be.swap16();
      return be;
    }
    case 3:
      return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), utf8]);
    default:
      return utf8;
  }
}

function manifest(tape: readonly number[]): FuzzManifest {
  const c = new Choices(tape);
  const writer = new Writer(c);
  let text = c.chance(20, 'bytes') ? '\ufeff' : '';
  if (c.chance(15, 'documents')) text += `${c.oneOf(DIRECTIVES)}\n${c.either(80) ? '---\n' : ''}`;
  const documents = 1 + (c.either(25) ? c.pick(3) : 0);
  for (let i = 0; i < documents; i++) text += separator(c, i === 0) + documentText(c, writer);
  if (c.chance(15, 'documents')) text += c.oneOf(['---\n', '...\n', '--- # end\n', '\n\n']);
  text = damage(c, text);
  const bytes = encode(c, text);
  const decoded = Buffer.from(bytes).toString('utf8');
  return { bytes, text: decoded, [fc.toStringMethod]: () => JSON.stringify(decoded) };
}

/** Manifests for the fuzz; `tapeLength` bounds the choices (and so the size) of one. */
export function manifestArbitrary(tapeLength = 400): fc.Arbitrary<FuzzManifest> {
  return fc.array(fc.nat({ max: 9_999 }), { minLength: tapeLength, maxLength: tapeLength }).map(manifest);
}
