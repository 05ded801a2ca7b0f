// Parses container image references as container runtimes resolve them (the grammar and Docker Hub
// normalisation of github.com/distribution/reference), so that matching is on what will really be
// pulled, not on the text a client chose to write.

const ALPHANUMERIC = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|[-]+)';
const PATH_COMPONENT = `${ALPHANUMERIC}(?:${SEPARATOR}${ALPHANUMERIC})*`;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_NAME = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*`;
const IPV6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const HOST_AND_PORT = `(?:${DOMAIN_NAME}|${IPV6})(?::[0-9]+)?`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';

const HOST_RE = new RegExp(`^${HOST_AND_PORT}$`);
const PATH_RE = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const TAG_RE = new RegExp(`^${TAG}$`);
const DIGEST_RE = new RegExp(`^${DIGEST}$`);
const HEX64_RE = /^[a-f0-9]{64}$/;
/**
 * An image ID spelled as a reference: `sha256:<hex>` reads as docker.io/library/sha256 with a tag,
 * but containerd's CRI first tries the whole string as a digest (go-digest's Parse, in LocalResolve)
 * and, when it is one, runs whatever local image has that ID, whichever registry it came from.
 * Refused for every algorithm name a digest may carry, whatever follows the colon.
 */
const IMAGE_ID_RE = /^(?:sha256|sha384|sha512|blake3):/;

/** Longest name (registry and repository) a reference may have. */
const NAME_MAX_LENGTH = 255;
const DIGEST_HEX_LENGTH: Readonly<Record<string, number>> = { sha256: 64, sha384: 96, sha512: 128 };

export const DOCKER_HUB = 'docker.io';
/** Host names that reach Docker Hub as well; `index.docker.io` is normalised by the runtimes themselves. */
const DOCKER_HUB_ALIASES = new Set(['index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

export interface ImageReference {
  /** Lower-cased registry host with its port, Docker Hub aliases folded to `docker.io`. */
  registry: string;
  /** Repository path within the registry (`library/nginx`). */
  repository: string;
  tag?: string;
  digest?: string;
}

export class ImageReferenceError extends Error {
  constructor(reference: string, reason: string) {
    super(`${JSON.stringify(reference)} is not a valid image reference: ${reason}`);
    this.name = 'ImageReferenceError';
  }
}

/** Lower-cases a host (DNS is case-insensitive) and folds Docker Hub's other names into docker.io. */
export function normaliseRegistry(host: string): string {
  const lower = host.toLowerCase();
  return DOCKER_HUB_ALIASES.has(lower) ? DOCKER_HUB : lower;
}

/** What a non-string is, for a message; `String()` itself throws on `{ toString: [] }`. */
function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' || typeof value === 'function' ? `a value of type ${typeof value}` : String(value);
}

/** The first path component is a registry host when it looks like one (distribution's rule). */
function looksLikeHost(component: string): boolean {
  return component === 'localhost' || component.includes('.') || component.includes(':') || component.toLowerCase() !== component;
}

/**
 * Parses `reference` into its normalised parts, or throws ImageReferenceError. Never throws
 * anything else, whatever the input.
 */
export function parseImageReference(reference: unknown): ImageReference {
  if (typeof reference !== 'string') throw new ImageReferenceError(describeValue(reference), 'not a string');
  if (reference === '') throw new ImageReferenceError(reference, 'empty');
  if (reference.length > 4096) throw new ImageReferenceError(reference.slice(0, 64) + '...', 'too long');
  if (HEX64_RE.test(reference)) throw new ImageReferenceError(reference, 'a bare 64-character hex ID names no repository');
  if (IMAGE_ID_RE.test(reference)) {
    throw new ImageReferenceError(reference, 'an image ID names no repository (the node would run any local image with that ID); name the image, pinned as registry/repository@sha256:...');
  }

  let rest = reference;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) throw new ImageReferenceError(reference, `invalid digest ${JSON.stringify(digest)}`);
    const [algorithm = '', hex = ''] = digest.split(':');
    const expected = DIGEST_HEX_LENGTH[algorithm];
    if (expected !== undefined && hex.length !== expected) throw new ImageReferenceError(reference, `a ${algorithm} digest has ${expected} hex digits`);
  }

  // A tag follows the last ':' that comes after the last '/' (a ':' before it belongs to a port).
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw new ImageReferenceError(reference, `invalid tag ${JSON.stringify(tag)}`);
  }

  let host = DOCKER_HUB;
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash !== -1 && looksLikeHost(rest.slice(0, slash))) {
    host = rest.slice(0, slash);
    path = rest.slice(slash + 1);
    if (!HOST_RE.test(host)) throw new ImageReferenceError(reference, `invalid registry host ${JSON.stringify(host)}`);
  }
  if (!PATH_RE.test(path)) {
    throw new ImageReferenceError(reference, `invalid repository ${JSON.stringify(path)} (lower-case letters, digits and separators only)`);
  }
  if (host.length + 1 + path.length > NAME_MAX_LENGTH) throw new ImageReferenceError(reference, `name longer than ${NAME_MAX_LENGTH} characters`);

  const registry = normaliseRegistry(host);
  // Docker Hub's only one-component names are its official images, under library/. Runtimes add it
  // for `docker.io` and `index.docker.io` only, but it is applied to every Hub host name here so
  // that `registry-1.docker.io/x` and `Docker.io/x` never read as a `docker.io/x/...` prefix.
  const officialImage = registry === DOCKER_HUB && !path.includes('/');
  const repository = officialImage ? `library/${path}` : path;
  const parsed: ImageReference = { registry, repository };
  if (tag !== undefined) parsed.tag = tag;
  if (digest !== undefined) parsed.digest = digest;
  return parsed;
}

/** `registry/repository`: the name matching is done on (tag and digest left out). */
export function normalisedName(reference: ImageReference): string {
  return `${reference.registry}/${reference.repository}`;
}

/** An allowlist entry: `host[:port][/path-prefix]`, with the host always stated. */
export interface RegistryPattern {
  registry: string;
  /** Path prefix, matched only at a `/` boundary; empty: the whole registry. */
  pathPrefix: string;
}

/** Parses an allowlist entry, or throws with the reason. */
export function parseRegistryPattern(entry: string): RegistryPattern {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(entry)) throw new Error(`${JSON.stringify(entry)}: write host[:port][/path] without a scheme`);
  if (entry.includes('*')) throw new Error(`${JSON.stringify(entry)}: wildcards are not supported; list each host, a path prefix covers everything below it`);
  if (entry.includes('@')) throw new Error(`${JSON.stringify(entry)}: an entry names a registry and path, not a tag or digest`);
  const trimmed = entry.replace(/\/+$/, '');
  const slash = trimmed.indexOf('/');
  const host = slash === -1 ? trimmed : trimmed.slice(0, slash);
  const pathPrefix = slash === -1 ? '' : trimmed.slice(slash + 1);
  if (!HOST_RE.test(host)) throw new Error(`${JSON.stringify(entry)}: ${JSON.stringify(host)} is not a registry host[:port]`);
  if (pathPrefix !== '' && !PATH_RE.test(pathPrefix)) throw new Error(`${JSON.stringify(entry)}: ${JSON.stringify(pathPrefix)} is not a repository path`);
  return { registry: normaliseRegistry(host), pathPrefix };
}

/** Whether the reference's registry equals the pattern's and its repository is under the prefix. */
export function matchesPattern(reference: ImageReference, pattern: RegistryPattern): boolean {
  if (reference.registry !== pattern.registry) return false;
  if (pattern.pathPrefix === '') return true;
  return reference.repository === pattern.pathPrefix || reference.repository.startsWith(`${pattern.pathPrefix}/`);
}
