import { describe, expect, it } from 'vitest';
import { defaultConfig, parseConfig, readConfigFile } from '../../src/config/load.js';
import { createEngine } from '../../src/engine/create.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const parse = (text: string) => parseConfig(text, 'tollgate.yaml', '/tmp');

describe('config', () => {
  it('embeds a default config that loads both built-in policies', async () => {
    const engine = await createEngine(defaultConfig(), silent);
    expect(engine.mutating.map((p) => p.name)).toEqual(['annotation-injection']);
    expect(engine.validating.map((p) => p.name)).toEqual(['image-registry-allowlist']);
  });

  it('reads JSON as well as YAML', () => {
    expect(parse('{"policies": [{"module": "annotation-injection", "config": {"annotations": {}}}]}').config.policies).toHaveLength(1);
  });

  it.each([
    ['policies: [', 'TG_ERR_CONFIG_PARSE', /^tollgate\.yaml:\d+: /],
    ['policies:\n  - module: x\n    module: y\n', 'TG_ERR_CONFIG_PARSE', 'tollgate.yaml:3: Map keys must be unique'],
    ['{}', 'TG_ERR_CONFIG_INVALID', 'tollgate.yaml:1: policies is required'],
    ['policies: {}', 'TG_ERR_CONFIG_INVALID', 'tollgate.yaml:1: policies must be array'],
    ['policies:\n  - module: a\n  - module: b\n    mode: block\n', 'TG_ERR_CONFIG_INVALID', 'tollgate.yaml:4: policies[1].mode must be one of "enforce", "warn", "audit"'],
    ['policies:\n  - module: a\n    failurePolicy: fail\n', 'TG_ERR_CONFIG_INVALID', 'policies[0].failurePolicy must be one of "Fail", "Ignore"'],
    ['policies:\n  - module: a\n    timeoutMs: 0\n', 'TG_ERR_CONFIG_INVALID', 'tollgate.yaml:3: policies[0].timeoutMs must be >= 1'],
    ['policies:\n  - module: a\n    timeoutMs: "100"\n', 'TG_ERR_CONFIG_INVALID', 'policies[0].timeoutMs must be integer'],
    ['policies:\n  - module: a\n    match: { operations: [PATCH] }\n', 'TG_ERR_CONFIG_INVALID', 'policies[0].match.operations[0] must be one of'],
    ['policies:\n  - module: a\n    match: { namespace: [x] }\n', 'TG_ERR_CONFIG_INVALID', 'policies[0].match.namespace is not a known field'],
    ['policies:\n  - modul: a\n', 'TG_ERR_CONFIG_INVALID', 'policies[0].module is required'],
    ['policies:\n  - module: a\n    name: Has_Caps\n', 'TG_ERR_CONFIG_INVALID', 'policies[0].name must match pattern'],
  ])('refuses %j with %s', (text, code, message) => {
    const error = (() => {
      try {
        parse(text);
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(error).toMatchObject({ code });
    if (typeof message === 'string') expect((error as Error).message).toContain(message);
    else expect((error as Error).message).toMatch(message);
  });

  it('names the file when it cannot be read', async () => {
    await expect(readConfigFile('/nonexistent/tollgate.yaml')).rejects.toThrow('/nonexistent/tollgate.yaml: cannot read config');
  });
});
