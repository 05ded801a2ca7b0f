// caBundle set in webhook configurations without disturbing anything else in the YAML.
import { cp, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/errors.js';
import { setCaBundleInManifests, setCaBundleInYaml } from '../../src/tls/webhook-manifests.js';

const MANIFESTS = fileURLToPath(new URL('../../manifests/', import.meta.url));
const BUNDLE_A = Buffer.from('-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n').toString('base64');
const BUNDLE_B = Buffer.from('-----BEGIN CERTIFICATE-----\nB\n-----END CERTIFICATE-----\n').toString('base64');

function caBundles(text: string): unknown[] {
  return parseAllDocuments(text).flatMap((doc) => {
    const object = doc.toJS() as { webhooks?: Array<{ clientConfig?: { caBundle?: unknown } }> } | null;
    return (object?.webhooks ?? []).map((webhook) => webhook.clientConfig?.caBundle);
  });
}

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('setting caBundle in YAML', () => {
  it('changes the project webhooks.yaml only where caBundle is, byte for byte elsewhere', async () => {
    const original = await readFile(path.join(MANIFESTS, 'webhooks.yaml'), 'utf8');
    const edit = setCaBundleInYaml(original, BUNDLE_A, 'webhooks.yaml');
    expect(edit.configurations).toEqual(['MutatingWebhookConfiguration/tollgate', 'ValidatingWebhookConfiguration/tollgate']);
    expect(edit.webhooks).toBe(2);
    expect(edit.changed).toBe(true);
    expect(caBundles(edit.text)).toEqual([BUNDLE_A, BUNDLE_A]);
    expect(edit.text.split(`caBundle: ${BUNDLE_A}`).join('caBundle: ""')).toBe(original);

    const again = setCaBundleInYaml(edit.text, BUNDLE_A);
    expect(again.changed).toBe(false);
    const rotated = setCaBundleInYaml(edit.text, BUNDLE_B);
    expect(caBundles(rotated.text)).toEqual([BUNDLE_B, BUNDLE_B]);
    expect(rotated.text.split(BUNDLE_B).join(BUNDLE_A)).toBe(edit.text);
  });

  it.each([
    ['a missing key, placed first with the same indentation', '    clientConfig:\n      # where\n      url: https://x/v # trailing\n', '    clientConfig:\n      # where\n      caBundle: BUNDLE\n      url: https://x/v # trailing\n'],
    ['an empty value', '    clientConfig:\n      caBundle:\n      url: https://x/v\n', '    clientConfig:\n      caBundle: BUNDLE\n      url: https://x/v\n'],
    ['a quoted value with a comment', "    clientConfig:\n      caBundle: 'old' # from CI\n      url: https://x/v\n", '    clientConfig:\n      caBundle: BUNDLE # from CI\n      url: https://x/v\n'],
    ['a block scalar', '    clientConfig:\n      caBundle: |\n        old\n      url: https://x/v\n', '    clientConfig:\n      caBundle: BUNDLE\n      url: https://x/v\n'],
    ['a flow mapping', '    clientConfig: {url: "https://x/v"}\n', '    clientConfig: {caBundle: BUNDLE, url: "https://x/v"}\n'],
  ])('handles %s', (_name, clientConfig, expected) => {
    const head = '# leading comment\napiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata: {name: x}\nwebhooks:\n  - name: a.example.com\n';
    const tail = '---\napiVersion: v1\nkind: ConfigMap # not a webhook configuration\nwebhooks: []\ndata: {caBundle: keep}\n';
    const edit = setCaBundleInYaml(`${head}${clientConfig}${tail}`, BUNDLE_A);
    expect(edit.text).toBe(`${head}${expected.replace('BUNDLE', BUNDLE_A)}${tail}`);
  });

  it('names the file and line of YAML it cannot parse, and of a webhook without clientConfig', () => {
    expect(() => setCaBundleInYaml('kind: [unclosed\n', BUNDLE_A, 'bad.yaml')).toThrow(expect.objectContaining({ code: ErrorCodes.TG_ERR_MANIFEST_PARSE, message: expect.stringMatching(/^bad\.yaml:\d+:\d+/) }));
    const noClientConfig = 'apiVersion: admissionregistration.k8s.io/v1\nkind: MutatingWebhookConfiguration\nwebhooks:\n  - name: a\n';
    expect(() => setCaBundleInYaml(noClientConfig, BUNDLE_A, 'w.yaml')).toThrow(/w\.yaml:4:\d+ webhooks\[0\]: no clientConfig/);
  });

  it('edits the webhook files of a directory, leaving every other file and the file modes as they were', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tollgate-manifests-'));
    await cp(MANIFESTS, dir, { recursive: true });
    const names = (await readdir(dir)).filter((name) => /\.ya?ml$/.test(name));
    const before = new Map(await Promise.all(names.map(async (name) => [name, await readFile(path.join(dir!, name), 'utf8')] as const)));
    const mode = (await stat(path.join(dir, 'webhooks.yaml'))).mode & 0o777;

    const results = await setCaBundleInManifests(dir, BUNDLE_A);
    expect(results.map((r) => [path.basename(r.file), r.webhooks, r.changed])).toEqual([['webhooks.yaml', 2, true]]);
    for (const name of names) {
      const after = await readFile(path.join(dir, name), 'utf8');
      if (name === 'webhooks.yaml') expect(caBundles(after)).toEqual([BUNDLE_A, BUNDLE_A]);
      else expect(after).toBe(before.get(name));
    }
    expect((await stat(path.join(dir, 'webhooks.yaml'))).mode & 0o777).toBe(mode);
    expect((await setCaBundleInManifests(dir, BUNDLE_A))[0]?.changed).toBe(false);
  });

  it('writes nothing when any file under the directory cannot be parsed', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tollgate-manifests-'));
    await cp(path.join(MANIFESTS, 'webhooks.yaml'), path.join(dir, 'a-webhooks.yaml'));
    await writeFile(path.join(dir, 'z-broken.yaml'), 'kind: [\n');
    const before = await readFile(path.join(dir, 'a-webhooks.yaml'), 'utf8');
    await expect(setCaBundleInManifests(dir, BUNDLE_A)).rejects.toMatchObject({ code: ErrorCodes.TG_ERR_MANIFEST_PARSE });
    expect(await readFile(path.join(dir, 'a-webhooks.yaml'), 'utf8')).toBe(before);
  });
});
