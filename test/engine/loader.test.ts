import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPolicies, loadPolicy } from '../../src/engine/loader.js';
import { PolicyEngine } from '../../src/engine/engine.js';
import { pod, requestFor } from '../helpers/reviews.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
let dir: string;
const options = () => ({ baseDir: dir, source: path.join(dir, 'tollgate.yaml'), logger: silent });

const REQUIRE_LABEL = `
export default {
  name: 'require-label',
  kind: 'validating',
  configSchema: { type: 'object', required: ['label'], properties: { label: { type: 'string' } }, additionalProperties: false },
  create(config, context) {
    if (context.name !== 'require-label' && context.name !== 'renamed') throw new Error('bad context');
    return {
      validate(request) {
        const labels = request.object?.metadata?.labels ?? {};
        return config.label in labels ? { allowed: true } : { allowed: false, message: 'missing label ' + config.label };
      },
    };
  },
};
`;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'tollgate-loader-'));
  await writeFile(path.join(dir, 'require-label.mjs'), REQUIRE_LABEL);
  await mkdir(path.join(dir, 'dir-module'));
  await writeFile(path.join(dir, 'dir-module', 'index.js'), REQUIRE_LABEL);
  await writeFile(path.join(dir, 'package.json'), '{"type":"module"}');
  const pkg = path.join(dir, 'node_modules', '@acme', 'tollgate-policy');
  await mkdir(pkg, { recursive: true });
  await writeFile(path.join(pkg, 'package.json'), JSON.stringify({ name: '@acme/tollgate-policy', type: 'module', exports: './main.js' }));
  await writeFile(path.join(pkg, 'main.js'), REQUIRE_LABEL);
  await writeFile(path.join(dir, 'no-default.mjs'), 'export const x = 1;');
  await writeFile(path.join(dir, 'bad-kind.mjs'), "export default { name: 'x', kind: 'both', create() { return {}; } };");
  await writeFile(path.join(dir, 'wrong-method.mjs'), "export default { name: 'x', kind: 'mutating', create() { return { validate() {} }; } };");
  await writeFile(path.join(dir, 'both-methods.mjs'), "export default { name: 'x', kind: 'mutating', create() { return { mutate() {}, patch() {} }; } };");
  await writeFile(path.join(dir, 'create-throws.mjs'), "export default { name: 'x', kind: 'mutating', create() { throw new Error('no database'); } };");
  await writeFile(path.join(dir, 'syntax-error.mjs'), 'export default {');
  await writeFile(
    path.join(dir, 'config-error.mjs'),
    "export default { name: 'x', kind: 'validating', create(c) { const e = new Error('is not a known team'); e.name = 'PolicyConfigError'; e.path = 'teams[1]'; throw e; } };",
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('loading policy modules', () => {
  it.each([
    ['./require-label.mjs', 'a path relative to the config file'],
    ['./dir-module', 'a directory with an index.js'],
    ['@acme/tollgate-policy', 'a package installed beside the config'],
  ])('loads a plain-JS module from %s (%s) and runs it', async (module) => {
    const policy = await loadPolicy({ module, config: { label: 'team' } }, 0, options());
    expect(policy).toMatchObject({ name: 'require-label', kind: 'validating', mode: 'enforce', failurePolicy: 'Fail', timeoutMs: 1000 });
    const engine = new PolicyEngine([policy]);
    expect((await engine.validate(requestFor(pod(['nginx'])))).verdict.message).toBe('[require-label] missing label team');
    expect((await engine.validate(requestFor(pod(['nginx'], { labels: { team: 'a' } })))).verdict.allowed).toBe(true);
  });

  it('loads an absolute path and applies the entry’s name, mode and budget', async () => {
    const policy = await loadPolicy(
      { module: path.join(dir, 'require-label.mjs'), name: 'renamed', mode: 'warn', failurePolicy: 'Ignore', timeoutMs: 250, config: { label: 'x' } },
      0,
      options(),
    );
    expect(policy).toMatchObject({ name: 'renamed', mode: 'warn', failurePolicy: 'Ignore', timeoutMs: 250 });
  });

  it('hands create a frozen copy of the config', async () => {
    await writeFile(
      path.join(dir, 'freeze.mjs'),
      "export default { name: 'freeze', kind: 'validating', create(c) { return { validate() { return { allowed: Object.isFrozen(c) && Object.isFrozen(c.nested) } } } } };",
    );
    const policy = await loadPolicy({ module: './freeze.mjs', config: { nested: { a: 1 } } }, 0, options());
    expect((await new PolicyEngine([policy]).validate(requestFor(pod(['nginx'])))).verdict.allowed).toBe(true);
  });

  it.each([
    ['./missing.mjs', 'TG_ERR_MODULE_NOT_FOUND', 'policies[3].module "./missing.mjs": no policy module at'],
    ['not-a-builtin-or-package', 'TG_ERR_MODULE_NOT_FOUND', 'is neither a built-in policy'],
    ['./no-default.mjs', 'TG_ERR_MODULE_INVALID', 'the default export must be a policy object'],
    ['./bad-kind.mjs', 'TG_ERR_MODULE_INVALID', 'kind must be "validating" or "mutating", not "both"'],
    ['./wrong-method.mjs', 'TG_ERR_MODULE_INVALID', 'create() must return an object with a mutate(request) or a patch(request) method'],
    ['./both-methods.mjs', 'TG_ERR_MODULE_INVALID', 'create() returned an object with both mutate(request) and patch(request)'],
    ['./create-throws.mjs', 'TG_ERR_MODULE_CREATE', 'create() failed: no database'],
    ['./syntax-error.mjs', 'TG_ERR_MODULE_INVALID', 'failed to import'],
    ['./config-error.mjs', 'TG_ERR_POLICY_CONFIG_INVALID', 'policies[3].config.teams[1] is not a known team'],
  ])('refuses %s with %s naming the entry', async (module, code, message) => {
    const error = await loadPolicy({ module }, 3, options()).catch((err: unknown) => err);
    expect(error).toMatchObject({ code });
    expect((error as Error).message).toContain(message);
    expect((error as Error).message).toContain(path.join(dir, 'tollgate.yaml'));
  });

  it('refuses a config that fails the module’s schema with the field path', async () => {
    await expect(loadPolicy({ module: './require-label.mjs', config: { label: 7 } }, 1, options())).rejects.toThrow(
      'tollgate.yaml: policies[1].config.label must be string',
    );
    await expect(loadPolicy({ module: './require-label.mjs', config: { label: 'a', extra: 1 } }, 1, options())).rejects.toThrow(
      'policies[1].config.extra is not a known field',
    );
  });

  it('refuses two policies with the same name', async () => {
    await expect(
      loadPolicies([{ module: './require-label.mjs', config: { label: 'a' } }, { module: './dir-module', config: { label: 'b' } }], options()),
    ).rejects.toThrow('policies[1].name "require-label" is already used by policies[0]');
  });
});
