// `tollgate check` must judge what kubectl sends. kubectl itself is the oracle here: for each
// manifest, what `kubectl create --dry-run=client -o json` decodes (its YAML parser, go-yaml v2 via
// sigs.k8s.io/yaml, and apimachinery's list handling) must equal what the manifest reader decodes,
// or the reader must refuse the manifest; manifests kubectl reads the usual way must not be refused.
// The manifest oracle that check-fuzz.test.ts draws thousands of manifests against must decode each
// of these as kubectl does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseManifests } from '../../src/manifests/read.js';
import { isNamespaced } from '../../src/manifests/resources.js';
import { jsonStream, startCluster, startManifestOracle, withKubectlNamespace, type E2ECluster, type ManifestOracle } from './harness/index.js';

const pod = (containerLines: string, name = 'p') => `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}}\nspec:\n  containers:\n    - name: app\n${containerLines}\n`;

/** [what, manifest, whether the reader must read it (true) or may refuse it (false)] */
const CORPUS: Array<[string, string, boolean]> = [
  ['a plain pod', pod('      image: nginx'), true],
  ['JSON', JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { a: 'b' } }), true],
  ['several documents, comments and empty ones', `# head\n---\n${pod('      image: nginx', 'a')}---\n---\n# only a comment\n---\n${pod('      image: nginx', 'b')}`, true],
  ['YAML 1.1 scalars', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, labels: {a: "1"}}\ndata: {octal: 0644, yes: no, off: On, time: 12:30, date: 2024-01-01, float: .5, exp: 1e3, under: 1_000, nul: ~, tilde: Null}\n', true],
  ['a merge before the key it brings', 'x-base: &base {image: "evil.io/x", imagePullPolicy: Always}\n' + pod('      <<: *base\n      image: nginx'), true],
  ['a merge of a sequence of maps', 'x-a: &a {image: nginx}\nx-b: &b {image: "evil.io/x", tty: true}\n' + pod('      <<: [*a, *b]'), true],
  ['a List of typed items', 'apiVersion: v1\nkind: List\nitems:\n  - {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n  - {apiVersion: v1, kind: Secret, metadata: {name: b}}\n', true],
  ['a PodList of untyped items', 'apiVersion: v1\nkind: PodList\nitems:\n  - metadata: {name: a}\n    spec: {containers: [{name: c, image: nginx}]}\n', true],
  ['items on a Pod', pod('      image: nginx', 'decoy') + 'items:\n  - metadata: {name: smuggled}\n    spec: {containers: [{name: c, image: "evil.io/x"}]}\n', true],
  ['CRLF line ends', pod('      image: nginx').replace(/\n/g, '\r\n'), true],
  ['a merge after the key it brings', pod('      image: nginx\n      <<: {image: "evil.io/x"}'), false],
  ['two merges of one key', pod('      <<: {image: nginx}\n      <<: {image: "evil.io/x"}'), false],
  ['! "<<"', pod('      image: nginx\n      ! "<<": {image: "evil.io/x"}'), false],
  ['an alias as a key', 'x-k: &k image\n' + pod('      *k : nginx\n      <<: {image: "evil.io/x"}'), false],
  ['U+2028 in a comment', pod('      image: nginx # pinned\u2028      image: evil.io/x'), false],
  ['a CR without a LF', pod('      image: nginx # pinned\r      image: evil.io/x'), false],
];

interface Decoded {
  objects?: unknown[];
  refused?: string;
}

interface KubectlDecoded extends Decoded {
  /** The objects as kubectl printed them, namespace and all. */
  printed: unknown[];
}

describe('tollgate check reads a manifest as kubectl does, or refuses it', () => {
  let cluster: E2ECluster;
  let oracle: ManifestOracle;

  beforeAll(async () => {
    [cluster, oracle] = await Promise.all([startCluster(), startManifestOracle()]);
  });

  afterAll(async () => {
    await Promise.all([cluster?.stop(), oracle?.stop()]);
  });

  /** What kubectl decodes: `create --dry-run=client` sends nothing and prints the objects it read. */
  const kubectlReads = async (manifest: string): Promise<KubectlDecoded> => {
    const result = await cluster.kubectl(['create', '--dry-run=client', '--validate=false', '-o', 'json', '-f', '-'], { input: manifest, allowFailure: true });
    // One JSON object per object read, one after the other.
    const printed = jsonStream(result.stdout);
    if (result.exitCode !== 0) return { refused: result.stderr, printed };
    const objects = structuredClone(printed) as Array<{ metadata?: { namespace?: string } }>;
    // kubectl fills in the kubeconfig's namespace, which no manifest here names; the reader leaves it to the request.
    for (const object of objects) if (object.metadata?.namespace === 'default') delete object.metadata.namespace;
    return { objects, printed };
  };

  const tollgateReads = (manifest: string): Decoded => {
    try {
      return { objects: parseManifests(manifest, 'manifest.yaml').map((document) => document.object) };
    } catch (err) {
      return { refused: (err as Error).message };
    }
  };

  it.each(CORPUS)('%s', async (_what, manifest, mustRead) => {
    const kubectl = await kubectlReads(manifest);
    const tollgate = tollgateReads(manifest);
    if (mustRead) expect(tollgate.refused).toBeUndefined();
    if (tollgate.objects) expect(tollgate.objects, `kubectl: ${JSON.stringify(kubectl)}`).toEqual(kubectl.objects);
    // The oracle reads it as kubectl does (the namespaces kubectl sets once the apiserver says which kinds have one aside).
    const fromOracle = await oracle.decode(manifest);
    expect(fromOracle.error === undefined, `oracle: ${JSON.stringify(fromOracle)}`).toBe(kubectl.refused === undefined);
    const asKubectlSends = fromOracle.objects.map((object) => withKubectlNamespace(object, (group, kind) => isNamespaced({ group, kind })));
    expect(asKubectlSends, `oracle: ${JSON.stringify(fromOracle)}`).toEqual(kubectl.printed);
  });
});
