// Reads the configuration (YAML or JSON), checks it against the schema before anything is served,
// and names the file, line and field of the first problem.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { ErrorCodes, TollgateError, describeError } from '../errors.js';
import { createAjv, describeAjvError } from '../json-schema.js';
import { configSchema, type TollgateConfig } from './schema.js';
import { DEFAULT_CONFIG_YAML } from './default-config.js';

export interface ConfigSource {
  config: TollgateConfig;
  /** Relative module paths are resolved against this directory. */
  baseDir: string;
  /** The file it came from, or `<embedded default>`. */
  source: string;
}

export const EMBEDDED_CONFIG_SOURCE = '<embedded default>';

const validateConfig = createAjv().compile(configSchema);

/** Parses and validates config text; `source` names it in errors. */
export function parseConfig(text: string, source: string, baseDir: string): ConfigSource {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const parseError = document.errors[0];
  if (parseError) {
    const line = lineCounter.linePos(parseError.pos[0]).line;
    throw new TollgateError(ErrorCodes.TG_ERR_CONFIG_PARSE, `${source}${line ? `:${line}` : ''}: ${parseError.message.split('\n')[0]}`);
  }
  const data: unknown = document.toJS({ maxAliasCount: 100 });
  if (!validateConfig(data)) {
    const error = validateConfig.errors?.[0];
    const keys = (error?.instancePath ?? '').split('/').slice(1).map((k) => (/^\d+$/.test(k) ? Number(k) : k.replace(/~1/g, '/').replace(/~0/g, '~')));
    const node = document.getIn(keys, true) as { range?: [number, number, number] } | undefined;
    const line = node?.range ? lineCounter.linePos(node.range[0]).line : undefined;
    throw new TollgateError(ErrorCodes.TG_ERR_CONFIG_INVALID, `${source}${line ? `:${line}` : ''}: ${describeAjvError(error)}`);
  }
  return { config: data as TollgateConfig, baseDir, source };
}

/** Reads and validates a config file. */
export async function readConfigFile(file: string): Promise<ConfigSource> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new TollgateError(ErrorCodes.TG_ERR_CONFIG_READ, `${file}: cannot read config: ${describeError(err)}`, { cause: err });
  }
  return parseConfig(text, file, path.dirname(path.resolve(file)));
}

/** The embedded default config: both built-in policies with example settings. */
export function defaultConfig(): ConfigSource {
  return parseConfig(DEFAULT_CONFIG_YAML, EMBEDDED_CONFIG_SOURCE, process.cwd());
}

/** The file's config when one is named, the embedded default otherwise. */
export function loadConfig(file: string | undefined): Promise<ConfigSource> {
  return file ? readConfigFile(file) : Promise.resolve(defaultConfig());
}
