// The differential fuzz of `tollgate check`'s manifest reader against kubectl. Manifests are drawn
// by manifest-fuzz.ts (YAML and JSON with the spellings where readers part ways); kubectl's reading
// of each comes from the manifest oracle (kubectl's own decoding code at the pinned versions, see
// scripts/e2e/manifest-oracle), itself checked here against kubectl on a sample. For every manifest
// the reader reads what kubectl would send, exactly, or refuses the manifest. And what check
// --mutated-out writes, kubectl reads back as the objects written.
//
//   FC_RUNS=50000 npx vitest run --config vitest.e2e.config.ts test/e2e/check-fuzz.test.ts
//   FC_SEED=123 ...                          # another draw (the default seed is fixed)
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeManifest, parseManifests } from '../../src/manifests/read.js';
import { isNamespaced } from '../../src/manifests/resources.js';
import { writeManifests } from '../../src/manifests/write.js';
import { objectWithData } from '../helpers/json-values.js';
import { kubectlDecode, startCluster, startManifestOracle, withKubectlNamespace, type E2ECluster, type KubectlDecoding, type ManifestOracle } from './harness/index.js';
import { manifestArbitrary, type FuzzManifest } from './manifest-fuzz.js';

const RUNS = Number(process.env.FC_RUNS ?? 5_000);
const SEED = Number(process.env.FC_SEED ?? 20_260_506);
/** Object streams written as check --mutated-out writes them and read back by the oracle. */
const WRITE_RUNS = Number(process.env.FC_WRITE_RUNS ?? 1_000);
/** Drawn manifests that kubectl itself decodes too, to hold the oracle to it (about 0.05 s each). */
const KUBECTL_SAMPLE = Number(process.env.FC_KUBECTL_SAMPLE ?? 60);

/**
 * The objects as compared: -0 and 0 are one value to JSON (and to every policy), and an empty
 * namespace is no namespace. kubectl sets the namespace of an object without one, or drops it, by
 * what the apiserver says of its kind (cli-runtime's SetNamespace and FilterNamespace; tollgate
 * check's request building fills it in the same way); the oracle, run without an apiserver, drops it.
 */
function comparable(objects: unknown[]): unknown {
  return (JSON.parse(JSON.stringify(objects)) as unknown[]).map((object) => {
    const metadata = typeof object === 'object' && object !== null ? (object as { metadata?: unknown }).metadata : undefined;
    if (typeof metadata === 'object' && metadata !== null && 'namespace' in metadata) {
      const { namespace } = metadata as { namespace?: unknown };
      if (typeof namespace !== 'string' || namespace === '') delete (metadata as { namespace?: unknown }).namespace;
    }
    return object;
  });
}

/** The reader's objects must be JSON-shaped, as kubectl sends: no Date, Map, Uint8Array, Infinity. */
function jsonShaped(value: unknown, path = '$'): string | undefined {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return undefined;
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : `${path} is ${value}`;
  if (Array.isArray(value)) return value.map((item, index) => jsonShaped(item, `${path}[${index}]`)).find((why) => why !== undefined);
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.entries(value).map(([key, item]) => jsonShaped(item, `${path}.${key}`)).find((why) => why !== undefined);
  }
  return `${path} is ${Object.prototype.toString.call(value)}`;
}

/** The oracle's objects with the namespaces kubectl gives them once the apiserver says which kinds are namespaced. */
function asKubectlSends(objects: unknown[]): unknown[] {
  return objects.map((object) => withKubectlNamespace(object, (group, kind) => isNamespaced({ group, kind })));
}

/** Whether kubectl's objects are the oracle's with some left out, in the same order. */
function isSubsequence(kubectl: unknown[], oracle: unknown[]): boolean {
  let next = 0;
  return kubectl.every((object) => {
    while (next < oracle.length && !isDeepStrictEqual(object, oracle[next])) next++;
    return next++ < oracle.length;
  });
}

interface ReaderResult {
  objects?: unknown[];
  refused?: string;
}

/** What `tollgate check` reads from a file of these bytes. */
function readerReads(manifest: FuzzManifest): ReaderResult {
  try {
    return { objects: parseManifests(decodeManifest(manifest.bytes, 'manifest.yaml'), 'manifest.yaml').map((document) => document.object) };
  } catch (err) {
    return { refused: (err as Error).message };
  }
}

describe('tollgate check reads drawn manifests as kubectl does, or refuses them', () => {
  let cluster: E2ECluster;
  let oracle: ManifestOracle;

  beforeAll(async () => {
    [cluster, oracle] = await Promise.all([startCluster(), startManifestOracle()]);
  });

  afterAll(async () => {
    await Promise.all([cluster?.stop(), oracle?.stop()]);
  });

  it(`the oracle decodes ${KUBECTL_SAMPLE} drawn manifests as kubectl create --dry-run=client does`, { timeout: 60_000 + KUBECTL_SAMPLE * 2_000 }, async () => {
    // kubectl before 1.33 read a stream starting with `{` as JSON only, never falling back to YAML
    // as the pinned release (the oracle's) does: such manifests are not compared with an older one.
    const version = JSON.parse((await cluster.kubectl(['version', '--client', '-o', 'json'])).stdout) as { clientVersion: { major: string; minor: string } };
    const readsFlowMappingsAsYaml = Number.parseInt(version.clientVersion.minor, 10) >= 33;
    let kubectlErrors = 0;
    let compared = 0;
    for (const manifest of fc.sample(manifestArbitrary(), { seed: SEED + 1, numRuns: KUBECTL_SAMPLE })) {
      const [kubectl, fromOracle] = await Promise.all([kubectlDecode(cluster, manifest.bytes), oracle.decode(manifest.bytes)]);
      const jsonOnly = (decoding: KubectlDecoding) => /: json: offset \d+:/.test(decoding.error ?? '');
      if (!readsFlowMappingsAsYaml && jsonOnly(kubectl) && !jsonOnly(fromOracle)) continue;
      compared++;
      const what = `manifest ${JSON.stringify(manifest.text)}\nkubectl: ${JSON.stringify(kubectl)}\noracle: ${JSON.stringify(fromOracle)}`;
      if (fromOracle.error !== undefined) expect(kubectl.error, what).toBeDefined();
      // kubectl also skips, and reports, an object of a kind the apiserver does not serve, which
      // the oracle (local) does not ask about; everything else it sends as the oracle says.
      const unmapped = kubectl.error !== undefined && /resource mapping not found|no matches for kind/.test(kubectl.error);
      if (fromOracle.error === undefined && kubectl.error !== undefined) expect(unmapped, what).toBe(true);
      const expected = asKubectlSends(fromOracle.objects);
      if (unmapped) expect(isSubsequence(kubectl.objects, expected), what).toBe(true);
      else expect(kubectl.objects, what).toEqual(expected);
      if (kubectl.error !== undefined) kubectlErrors++;
    }
    console.log(`check-fuzz: the oracle read ${compared} drawn manifests (seed ${SEED + 1}) as kubectl ${version.clientVersion.major}.${version.clientVersion.minor.replace(/\D/g, '')} does (${KUBECTL_SAMPLE - compared} left out: read as JSON only by this older kubectl); kubectl failed on ${kubectlErrors}`);
    // Both sides of the comparison were drawn.
    expect(compared).toBeGreaterThan(KUBECTL_SAMPLE * 0.8);
    expect(kubectlErrors).toBeGreaterThan(compared / 10);
    expect(kubectlErrors).toBeLessThan(compared * 0.9);
  });

  it(`reads ${RUNS} drawn manifests as kubectl does, or refuses them`, { timeout: 60_000 + RUNS * 20 }, async () => {
    const tally = { read: 0, refused: 0, kubectlFails: 0, refusedThoughKubectlReads: 0 };
    const started = performance.now();
    await fc.assert(
      fc.asyncProperty(manifestArbitrary(), async (manifest) => {
        const kubectl: KubectlDecoding = await oracle.decode(manifest.bytes);
        const reader = readerReads(manifest);
        if (kubectl.error !== undefined) tally.kubectlFails++;
        if (reader.refused !== undefined) {
          tally.refused++;
          if (kubectl.error === undefined) tally.refusedThoughKubectlReads++;
          return;
        }
        tally.read++;
        const shape = jsonShaped(reader.objects);
        if (shape !== undefined) throw new Error(`the reader's objects are not JSON: ${shape}`);
        if (kubectl.error !== undefined) throw new Error(`kubectl fails (${kubectl.error}) where the reader reads ${JSON.stringify(reader.objects)}`);
        if (!isDeepStrictEqual(comparable(reader.objects!), comparable(kubectl.objects))) {
          throw new Error(`kubectl reads ${JSON.stringify(kubectl.objects)}\nthe reader reads ${JSON.stringify(reader.objects)}`);
        }
      }),
      { seed: SEED, numRuns: RUNS },
    );
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.log(`check-fuzz: ${RUNS} manifests (seed ${SEED}) in ${seconds} s: ${tally.read} read as kubectl reads them, ${tally.refused} refused (${tally.refusedThoughKubectlReads} of them read by kubectl), kubectl fails on ${tally.kubectlFails}`);
    // The property holds by refusing too: it is worth something only if much is read (judged on
    // runs long enough for the shares to mean something).
    if (RUNS >= 1_000) {
      expect(tally.read / RUNS).toBeGreaterThan(0.2);
      expect(tally.read / (RUNS - tally.kubectlFails)).toBeGreaterThan(0.6);
    }
  });

  // go-yaml fails a document when too large a share of its nodes is decoded through aliases; the
  // share it allows falls past 400,000 nodes. The reader counts nodes as go-yaml does, to the node.
  it('refuses a document exactly where kubectl fails on excessive aliasing', async () => {
    const aliased = (items: number) => `apiVersion: v1\nkind: X\na: &a [${Array.from({ length: items }, (_, i) => i).join(', ')}]\nb: [${Array(100).fill('*a').join(', ')}]\n`;
    const merged = (keys: number) => `apiVersion: v1\nkind: X\nbase: &b {${Array.from({ length: keys }, (_, i) => `k${i}: ${i}`).join(', ')}}\nm:\n${Array.from({ length: 100 }, (_, i) => `  - {<<: *b, z: ${i}}`).join('\n')}\n`;
    for (const text of [aliased(3965), aliased(3966), merged(1995), merged(1996)]) {
      const kubectl = await oracle.decode(text);
      const reader = readerReads({ bytes: new TextEncoder().encode(text), text, [fc.toStringMethod]: () => text });
      expect(reader.refused === undefined, `${text.slice(0, 60)}...: kubectl ${kubectl.error ?? 'reads it'}, the reader ${reader.refused ?? 'reads it'}`).toBe(kubectl.error === undefined);
      if (kubectl.error !== undefined) expect(kubectl.error).toContain('excessive aliasing');
    }
  });

  // `tollgate check --mutated-out` writes what the mutating policies leave (src/manifests/write.ts):
  // kubectl must read the file back as those objects, or applying it would apply something else.
  it(`kubectl reads what check --mutated-out writes as the objects written: ${WRITE_RUNS} drawn objects, and what the reader read of drawn manifests`, { timeout: 60_000 + WRITE_RUNS * 20 }, async () => {
    const readBack = async (objects: unknown[]) => {
      const decoded = await oracle.decode(writeManifests(objects));
      if (decoded.error !== undefined) throw new Error(`kubectl fails (${decoded.error}) on ${JSON.stringify(writeManifests(objects))}`);
      return decoded.objects;
    };
    await fc.assert(
      fc.asyncProperty(fc.array(objectWithData, { minLength: 1, maxLength: 3 }), async (objects) => {
        expect(comparable(await readBack(objects))).toEqual(comparable(objects));
      }),
      { seed: SEED + 2, numRuns: WRITE_RUNS },
    );
    // A key << (from a JSON manifest, or a mutating policy): written plain, kubectl would merge at it.
    const mergeKey = [{ apiVersion: 'example.com/v1', kind: 'Thing', metadata: { name: 'a' }, spec: { '<<': { replicas: 3 }, replicas: 1 }, data: { '<<': 'x' } }];
    expect(comparable(await readBack(mergeKey))).toEqual(comparable(mergeKey));
    let rewritten = 0;
    for (const manifest of fc.sample(manifestArbitrary(), { seed: SEED + 3, numRuns: WRITE_RUNS })) {
      const read = readerReads(manifest);
      if (read.objects === undefined || read.objects.length === 0) continue;
      rewritten++;
      expect(comparable(await readBack(read.objects)), manifest.text).toEqual(comparable(read.objects));
    }
    console.log(`check-fuzz: kubectl read back ${WRITE_RUNS} drawn object streams and ${rewritten} streams read from drawn manifests as written`);
    expect(rewritten).toBeGreaterThan(WRITE_RUNS / 10);
  });
});
