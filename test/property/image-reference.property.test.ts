// Properties of the image reference parser and the allowlist: the parser throws nothing but
// ImageReferenceError, normalises idempotently, and the allowlist never admits a reference whose
// normalised registry/path is not listed, checked against an independent implementation below.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AdmissionRequest } from '../../src/admission/types.js';
import type { ValidatingPolicy } from '../../src/engine/policy.js';
import allowlistModule from '../../policies/image-registry-allowlist/index.js';
import { ImageReferenceError, parseImageReference, type ImageReference } from '../../policies/image-registry-allowlist/image-reference.js';

/** More runs for a deeper search: FC_RUNS=20000 npx vitest run test/property */
const RUNS = Number(process.env.FC_RUNS ?? 2_000);

/**
 * The reference implementation: how containerd and Docker name what they will pull, written from
 * distribution's `splitDockerDomain`, independently of the parser (no shared regexes). It does not
 * check the grammar; it only says which registry and repository a string would be pulled from.
 */
function referenceName(image: string): { registry: string; repository: string } {
  let name = image;
  const at = name.indexOf('@');
  if (at !== -1) name = name.slice(0, at);
  const lastSlash = name.lastIndexOf('/');
  const lastColon = name.lastIndexOf(':');
  if (lastColon > lastSlash) name = name.slice(0, lastColon);
  const firstSlash = name.indexOf('/');
  let domain = 'docker.io';
  let repository = name;
  if (firstSlash !== -1) {
    const first = name.slice(0, firstSlash);
    const isHost = first.includes('.') || first.includes(':') || first === 'localhost' || first.toLowerCase() !== first;
    if (isHost) {
      domain = first;
      repository = name.slice(firstSlash + 1);
    }
  }
  // Host names are case-insensitive, and these all serve Docker Hub, whose only one-component
  // repositories are the official images under library/ (distribution adds it for docker.io and
  // index.docker.io; on the other Hub names a one-component name is nothing else).
  const lower = domain.toLowerCase();
  const registry = DOCKER_HUB_HOSTS.has(lower) ? 'docker.io' : lower;
  if (registry === 'docker.io' && !repository.includes('/')) repository = `library/${repository}`;
  return { registry, repository };
}

const DOCKER_HUB_HOSTS = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

/**
 * containerd's first reading of an image (go-digest's Parse, in the CRI's LocalResolve): a whole
 * string that is a digest of a registered algorithm names a local image by ID, from any registry.
 */
function isImageId(image: string): boolean {
  const match = /^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/.exec(image);
  const hexLength: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };
  return match !== null && hexLength[match[1]!] !== undefined && new RegExp(`^[a-f0-9]{${hexLength[match[1]!]}}$`).test(match[2]!);
}

/** Listed: the registry is an entry's host exactly, and the repository is the entry's path or below it; never an image ID. */
function referenceListed(image: string, entries: readonly string[]): boolean {
  if (isImageId(image)) return false;
  const { registry, repository } = referenceName(image);
  return entries.some((entry) => {
    const slash = entry.indexOf('/');
    const host = (slash === -1 ? entry : entry.slice(0, slash)).toLowerCase();
    const prefix = slash === -1 ? '' : entry.slice(slash + 1);
    const sameHost = (DOCKER_HUB_HOSTS.has(host) ? 'docker.io' : host) === registry;
    return sameHost && (prefix === '' || repository === prefix || repository.startsWith(`${prefix}/`));
  });
}

// Pieces chosen to hit the bypass classes: look-alike hosts, prefix tricks, case, ports, IPv6,
// Docker Hub's aliases, and separators where they do not belong.
const HOSTS = ['docker.io', 'Docker.io', 'index.docker.io', 'INDEX.DOCKER.IO', 'registry.hub.docker.com', 'registry-1.docker.io', 'registry.io', 'registry.io.evil.com', 'evilregistry.io', 'REGISTRY.IO', 'Registry.Io', 'registry.io:5000', 'registry.io:443', 'localhost', 'localhost:5000', '[::1]:5000', '[::1]', 'ghcr.io', 'ghcr.io.', 'acme', 'Acme', 'docker.io:443'];
const PATHS = ['sha256', 'sha512', 'acme', 'acmeevil', 'acme-evil', 'acme/app', 'acme/app/sub', 'acmeevil/app', 'library/nginx', 'nginx', 'team', 'team/app', 'team2/app', 'a', 'acme//app', 'acme/', '/acme', 'ACME/app', 'acme/../evil', 'acme/./app', 'a_b/c__d', 'a.b/c-d'];
const TAGS = ['', ':latest', ':v1.2', ':', ':-bad', ':' + 'x'.repeat(129), ':a@b', `:${'4e'.repeat(32)}`, `:${'ab'.repeat(64)}`];
const DIGESTS = ['', `@sha256:${'a'.repeat(64)}`, `@sha256:${'A'.repeat(64)}`, '@sha256:abc', `@sha512:${'b'.repeat(128)}`, `@x:${'c'.repeat(32)}`];
const ENTRIES = ['docker.io/acme', 'docker.io/library', 'registry.io', 'registry.io:5000/team', 'localhost:5000', '[::1]:5000/acme', 'ghcr.io/acme/app', 'index.docker.io/acme', 'REGISTRY.io/team'];

const reference = fc
  .tuple(fc.option(fc.constantFrom(...HOSTS), { nil: undefined }), fc.constantFrom(...PATHS), fc.constantFrom(...TAGS), fc.constantFrom(...DIGESTS))
  .map(([host, path, tag, digest]) => `${host === undefined ? '' : `${host}/`}${path}${tag}${digest}`);
/** Structured references, then the same with one character inserted, deleted or replaced anywhere. */
const mutatedReference = fc.oneof(
  reference,
  fc.tuple(reference, fc.nat(), fc.constantFrom('/', ':', '@', '.', '-', '_', 'A', ' ', '\n', '\u0000', '\u0130', '%2f', '#', '?', '\\')).map(([r, i, c]) => r.slice(0, i % (r.length + 1)) + c + r.slice(i % (r.length + 1))),
  fc.tuple(reference, fc.nat()).map(([r, i]) => r.slice(0, i % (r.length + 1)) + r.slice((i % (r.length + 1)) + 1)),
);
const anyString = fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 100 }), fc.string({ unit: fc.constantFrom(...'aZ09./:@_-[]'), maxLength: 80 }));

/**
 * A reference written back from its parts. A registry with no `.`, `:` or `localhost` (`AACME/app`
 * names host `aacme`) is a host only while it has a capital letter: hosts are case-insensitive, so
 * it is written in capitals to stay a host.
 */
function format(ref: ImageReference): string {
  const plain = !ref.registry.includes('.') && !ref.registry.includes(':') && ref.registry !== 'localhost';
  return `${plain ? ref.registry.toUpperCase() : ref.registry}/${ref.repository}${ref.tag === undefined ? '' : `:${ref.tag}`}${ref.digest === undefined ? '' : `@${ref.digest}`}`;
}

function podRequest(images: string[]): AdmissionRequest {
  return {
    uid: 'u',
    kind: { group: '', version: 'v1', kind: 'Pod' },
    resource: { group: '', version: 'v1', resource: 'pods' },
    operation: 'CREATE',
    namespace: 'default',
    object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: images.map((image, i) => ({ name: `c${i}`, image })) } },
  };
}

async function allowlist(registries: string[]): Promise<ValidatingPolicy> {
  const logger = { debug() {}, info() {}, warn() {}, error() {} };
  return allowlistModule.create({ registries, requireDigest: false, recheckUnchanged: false }, { name: 'allowlist', logger });
}

describe('image reference parser (property)', () => {
  it('throws nothing but ImageReferenceError, whatever the input', () => {
    fc.assert(
      fc.property(fc.oneof(anyString, mutatedReference, fc.anything()), (input) => {
        try {
          parseImageReference(input);
        } catch (err) {
          expect(err).toBeInstanceOf(ImageReferenceError);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('normalises idempotently: parse(format(parse(x))) equals parse(x)', () => {
    fc.assert(
      fc.property(fc.oneof(mutatedReference, anyString), (input) => {
        let first: ImageReference;
        try {
          first = parseImageReference(input);
        } catch {
          return;
        }
        expect(parseImageReference(format(first))).toEqual(first);
      }),
      { numRuns: RUNS },
    );
  });

  it('agrees with the reference implementation on the registry and repository of every reference it accepts', () => {
    fc.assert(
      fc.property(mutatedReference, (input) => {
        let parsed: ImageReference;
        try {
          parsed = parseImageReference(input);
        } catch {
          return;
        }
        const expected = referenceName(input);
        expect({ registry: parsed.registry, repository: parsed.repository }).toEqual(expected);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('allowlist (property, differential)', () => {
  it('never admits a reference whose normalised registry/path is not listed, and admits every listed one that parses', async () => {
    const policies = new Map<string, ValidatingPolicy>();
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.constantFrom(...ENTRIES), { minLength: 1, maxLength: 3 }), mutatedReference, async (entries, image) => {
        const key = entries.join(',');
        let policy = policies.get(key);
        if (!policy) policies.set(key, (policy = await allowlist(entries)));
        const result = await policy.validate(podRequest([image]));
        const admitted = result?.allowed !== false;
        const listed = referenceListed(image, entries);
        if (admitted) expect(listed, `${image} admitted by [${key}]`).toBe(true);
        let parses = true;
        try {
          parseImageReference(image);
        } catch {
          parses = false;
        }
        if (listed && parses) expect(admitted, `${image} refused by [${key}]`).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('never admits an image ID, which containerd resolves to a local image of any registry, even where every official image is allowed', async () => {
    const policy = await allowlist(['docker.io/library', 'docker.io']);
    const algorithms = fc.constantFrom(['sha256', 64] as const, ['sha384', 96] as const, ['sha512', 128] as const);
    const imageId = algorithms.chain(([algorithm, length]) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: length, maxLength: length }).map((hex) => `${algorithm}:${hex}`));
    await fc.assert(
      fc.asyncProperty(imageId, async (image) => {
        expect(isImageId(image)).toBe(true);
        expect((await policy.validate(podRequest(['nginx', image])))?.allowed, image).toBe(false);
      }),
      { numRuns: Math.min(RUNS, 500) },
    );
  });

  it('judges every container: one unlisted image among many denies the pod', async () => {
    const policy = await allowlist(['docker.io/library']);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom('nginx', 'busybox:1', 'library/redis'), { maxLength: 5 }), fc.constantFrom('evil.io/x', 'docker.io/acme/x', 'docker.io.evil.com/library/nginx'), fc.nat(), async (good, bad, at) => {
        const images: string[] = [...good];
        images.splice(at % (images.length + 1), 0, bad);
        const result = await policy.validate(podRequest(images));
        expect(result?.allowed).toBe(false);
      }),
      { numRuns: 300 },
    );
  });
});
