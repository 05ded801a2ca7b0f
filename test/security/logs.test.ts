// Nothing under review reaches the logs: not the object, not a Secret's data, not env values;
// one line per review says who, what and the verdict.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { createEngine } from '../../src/engine/create.js';
import { buildServer } from '../../src/http/server.js';
import { memoryLogger } from '../helpers/logs.js';
import { reviewFor } from '../helpers/reviews.js';

const SECRET = 'c3VwZXItc2VjcmV0LXRva2Vu';
const CONFIG = `policies:
  - module: annotation-injection
    config: { annotations: { "tollgate.dev/admitted": "true" } }
  - module: image-registry-allowlist
    config: { registries: [registry.io] }
  - module: ./throws.mjs
`;

describe('logs', () => {
  it('carry no object, Secret data or env value, whatever the verdict, and one line per review', async () => {
    const { logger, lines } = memoryLogger();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'tollgate-logs-'));
    // A policy that fails: its failure is logged with the reason, still without the object.
    await writeFile(path.join(dir, 'throws.mjs'), "export default { name: 'throws', kind: 'validating', create: () => ({ validate(r) { if (r.object?.kind === 'Secret') throw new Error('no secrets here'); } }) };");
    const engine = await createEngine(parseConfig(CONFIG, path.join(dir, 'config.yaml'), dir), logger);
    const app = await buildServer({ engine: { current: engine }, logger });
    try {
      const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'token', namespace: 'default' }, data: { token: SECRET }, stringData: { password: SECRET } };
      const badPod = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'web', namespace: 'default', annotations: { note: SECRET } },
        spec: { containers: [{ name: 'c', image: 'evil.io/x', env: [{ name: 'TOKEN', value: SECRET }] }] },
      };
      const bodies = [reviewFor(secret), reviewFor(badPod), reviewFor(badPod, { operation: 'UPDATE', oldObject: { ...badPod } })];
      for (const url of ['/validate', '/mutate']) {
        for (const body of bodies) {
          const response = await app.inject({ method: 'POST', url, payload: body });
          expect(response.statusCode).toBe(200);
        }
      }
      // Malformed bodies that carry the secret are refused without echoing or logging it.
      const refused = await app.inject({ method: 'POST', url: '/validate', headers: { 'content-type': 'application/json' }, payload: `{"kind":"AdmissionReview","request":${JSON.stringify({ object: secret })}}` });
      expect(refused.statusCode).toBe(400);
      expect(refused.body).not.toContain(SECRET);

      const all = lines();
      expect(all.filter((line) => line.msg === 'review')).toHaveLength(6);
      expect(all.some((line) => line.msg === 'policy failed' && line.policy === 'throws')).toBe(true);
      const text = JSON.stringify(all);
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain('"object"');
      expect(text).not.toContain('oldObject');
    } finally {
      await app.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
