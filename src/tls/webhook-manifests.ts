// Puts a CA bundle into `clientConfig.caBundle` of every webhook in the Mutating- and
// ValidatingWebhookConfiguration documents of YAML files. The documents are parsed with `yaml` to
// find each value's place in the text, and only those bytes change: comments, key order, quoting
// and the other documents of a file stay exactly as they were.
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { isMap, isScalar, isSeq, parseAllDocuments, type Document, type Node, type YAMLMap } from 'yaml';
import { ErrorCodes, TollgateError, describeError } from '../errors.js';
import { writeFileAtomic } from './dev-certificate.js';

export const WEBHOOK_CONFIGURATION_KINDS = ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'] as const;

export interface CaBundleEdit {
  /** The file's new text (the same text when nothing changed). */
  text: string;
  /** `Kind/name` of every webhook configuration found, in file order. */
  configurations: string[];
  /** How many webhooks carry the bundle now. */
  webhooks: number;
  changed: boolean;
}

interface Splice {
  start: number;
  end: number;
  text: string;
}

function lineAndColumn(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return `${line}:${offset - before.lastIndexOf('\n')}`;
}

function isWebhookConfiguration(doc: Document.Parsed): boolean {
  const contents = doc.contents;
  if (!isMap(contents)) return false;
  const kind: unknown = contents.get('kind');
  const apiVersion: unknown = contents.get('apiVersion');
  return (
    typeof kind === 'string' &&
    (WEBHOOK_CONFIGURATION_KINDS as readonly string[]).includes(kind) &&
    typeof apiVersion === 'string' &&
    apiVersion.startsWith('admissionregistration.k8s.io/')
  );
}

/** The splice that makes `clientConfig` carry `value` as its caBundle. */
function caBundleSplice(text: string, clientConfig: YAMLMap, value: string, where: string): Splice {
  const pair = clientConfig.items.find((item) => isScalar(item.key) && item.key.value === 'caBundle');
  if (pair) {
    const node = pair.value as Node | null;
    if (isScalar(node) && node.range) {
      const [start, end] = node.range;
      if (start === end) {
        // `caBundle:` with nothing after it: the (null) value sits right after the colon.
        return { start, end, text: ` ${value}` };
      }
      // Keep the line breaks a block scalar (`|`) ends with, so the next key stays on its own line.
      const trailing = /\s*$/.exec(text.slice(start, end))?.[0] ?? '';
      return { start, end, text: `${value}${trailing}` };
    }
    throw new TollgateError(ErrorCodes.TG_ERR_MANIFEST_PARSE, `${where}: clientConfig.caBundle is not a plain value`);
  }
  const first = clientConfig.items[0];
  const firstKey = first?.key as Node | null | undefined;
  if (!firstKey?.range) throw new TollgateError(ErrorCodes.TG_ERR_MANIFEST_PARSE, `${where}: clientConfig is empty (it needs a service or a url)`);
  const at = firstKey.range[0];
  if (clientConfig.flow) return { start: at, end: at, text: `caBundle: ${value}, ` };
  const indent = ' '.repeat(at - (text.lastIndexOf('\n', at - 1) + 1));
  return { start: at, end: at, text: `caBundle: ${value}\n${indent}` };
}

/**
 * Sets `clientConfig.caBundle` of every webhook of every webhook configuration in a YAML text.
 * `source` names the text in error messages (a file name).
 */
export function setCaBundleInYaml(text: string, caBundleBase64: string, source = '<yaml>'): CaBundleEdit {
  const docs = parseAllDocuments(text, { prettyErrors: false });
  if (!Array.isArray(docs)) return { text, configurations: [], webhooks: 0, changed: false };
  const splices: Splice[] = [];
  const configurations: string[] = [];
  for (const doc of docs) {
    const error = doc.errors[0];
    if (error) {
      throw new TollgateError(ErrorCodes.TG_ERR_MANIFEST_PARSE, `${source}:${lineAndColumn(text, error.pos[0])}: ${error.message}`);
    }
    if (!isWebhookConfiguration(doc)) continue;
    const contents = doc.contents as YAMLMap;
    configurations.push(`${String(contents.get('kind'))}/${String(doc.getIn(['metadata', 'name']) ?? '')}`);
    const webhooks = contents.get('webhooks', true);
    if (webhooks === undefined || webhooks === null) continue;
    if (!isSeq(webhooks)) throw new TollgateError(ErrorCodes.TG_ERR_MANIFEST_PARSE, `${source}: webhooks must be a list`);
    webhooks.items.forEach((webhook, index) => {
      const where = `${source}:${isMap(webhook) && webhook.range ? lineAndColumn(text, webhook.range[0]) : '?'} webhooks[${index}]`;
      const clientConfig = isMap(webhook) ? webhook.get('clientConfig', true) : undefined;
      if (!isMap(clientConfig)) throw new TollgateError(ErrorCodes.TG_ERR_MANIFEST_PARSE, `${where}: no clientConfig`);
      splices.push(caBundleSplice(text, clientConfig, caBundleBase64, where));
    });
  }
  let edited = text;
  for (const splice of [...splices].sort((a, b) => b.start - a.start)) {
    edited = edited.slice(0, splice.start) + splice.text + edited.slice(splice.end);
  }
  verifyCaBundles(edited, caBundleBase64, splices.length, source);
  return { text: edited, configurations, webhooks: splices.length, changed: edited !== text };
}

/** Reads the edited text back: every webhook must now carry exactly the bundle, and nothing else may have broken. */
function verifyCaBundles(text: string, caBundleBase64: string, expected: number, source: string): void {
  let found = 0;
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0 || (isWebhookConfiguration(doc) && !carriesBundle(doc, caBundleBase64))) {
      throw new TollgateError(ErrorCodes.TG_ERR_INTERNAL, `${source}: setting caBundle would corrupt the file; it was left as it was`);
    }
    if (isWebhookConfiguration(doc)) found += (doc.get('webhooks') as { items: unknown[] } | undefined)?.items.length ?? 0;
  }
  if (found !== expected) throw new TollgateError(ErrorCodes.TG_ERR_INTERNAL, `${source}: setting caBundle would change the webhooks; it was left as it was`);
}

function carriesBundle(doc: Document.Parsed, caBundleBase64: string): boolean {
  const webhooks = doc.toJS() as { webhooks?: Array<{ clientConfig?: { caBundle?: unknown } }> | null };
  return (webhooks.webhooks ?? []).every((webhook) => webhook.clientConfig?.caBundle === caBundleBase64);
}

async function yamlFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files: string[] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name.startsWith('.') || entry.name === 'node_modules') continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await yamlFiles(full)));
    else if (entry.isFile() && /\.ya?ml$/i.test(entry.name)) files.push(full);
  }
  return files;
}

export interface CaBundleFileResult {
  file: string;
  configurations: string[];
  webhooks: number;
  changed: boolean;
}

/**
 * Sets the caBundle in every webhook configuration of the YAML files under `dir` (or of one file),
 * writing only the files that change. Every file is edited in memory before any is written.
 */
export async function setCaBundleInManifests(target: string, caBundleBase64: string): Promise<CaBundleFileResult[]> {
  let files: string[];
  try {
    files = (await stat(target)).isDirectory() ? await yamlFiles(target) : [target];
  } catch (err) {
    throw new TollgateError(ErrorCodes.TG_ERR_MANIFEST_READ, `cannot read ${target}: ${describeError(err)}`, { cause: err });
  }
  const edits: Array<CaBundleFileResult & { text: string; mode: number }> = [];
  for (const file of files) {
    let text: string;
    let mode: number;
    try {
      [text, mode] = await Promise.all([readFile(file, 'utf8'), stat(file).then((s) => s.mode & 0o777)]);
    } catch (err) {
      throw new TollgateError(ErrorCodes.TG_ERR_MANIFEST_READ, `cannot read ${file}: ${describeError(err)}`, { cause: err });
    }
    const edit = setCaBundleInYaml(text, caBundleBase64, file);
    if (edit.configurations.length > 0) edits.push({ file, configurations: edit.configurations, webhooks: edit.webhooks, changed: edit.changed, text: edit.text, mode });
  }
  for (const edit of edits) if (edit.changed) await writeFileAtomic(edit.file, edit.text, edit.mode);
  return edits.map(({ file, configurations, webhooks, changed }) => ({ file, configurations, webhooks, changed }));
}
