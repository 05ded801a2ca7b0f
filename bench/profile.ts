// Profiles tollgate's hot path: runs it under `node --cpu-prof`, saturates /validate and /mutate
// with one of the standard bodies (default: the 10-container pod), and prints where the CPU went (self time, and time inside each of
// tollgate's own functions with everything they call).
//   node dist/bench-build/bench/profile.js [--seconds 4] [--endpoint validate|mutate] [--body 0|1|2] [--config FILE] [--dist DIR] [--floor]
// (after `npm run bench` has built it); --floor profiles the floor instead, for comparison.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ensureDevCertificate } from '../src/tls/dev-certificate.js';
import { standardBodies } from './lib/bodies.js';
import { BenchContext, REPO_ROOT } from './lib/context.js';
import { saturate, type Endpoint } from './lib/load.js';
import { Report } from './lib/report.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
}

const TOP = 25;
const { values: args } = parseArgs({ options: { seconds: { type: 'string', default: '4' }, endpoint: { type: 'string' }, floor: { type: 'boolean', default: false }, config: { type: 'string' }, dist: { type: 'string' }, body: { type: 'string', default: '1' } } });
const seconds = Number(args.seconds);
const endpoints: Endpoint[] = args.endpoint === 'validate' || args.endpoint === 'mutate' ? [args.endpoint] : ['validate', 'mutate'];

function where(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url.startsWith('file://') ? path.relative(REPO_ROOT, new URL(url).pathname) : url || '(native)';
  return `${functionName || '(anonymous)'} ${file}${url ? `:${lineNumber + 1}` : ''}`;
}

/** `fastify`, `node:http`, `tollgate src/engine`, `(garbage collector)`: where a frame's code comes from. */
function packageOf(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return url.replace(/^node:internal\//, 'node:').split('/').slice(0, 2).join('/');
  const modules = url.lastIndexOf('/node_modules/');
  if (modules !== -1) {
    const parts = url.slice(modules + '/node_modules/'.length).split('/');
    return parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] ?? url);
  }
  const ours = /\/dist\/(?:bench-build\/)?((?:src|policies|bench)\/[^/]+)/.exec(url);
  return ours ? `tollgate ${ours[1]?.replace(/\.js$/, '')}` : url;
}

function summarise(profile: Profile, reviews: number): void {
  const total = profile.samples.length;
  const microsPerSample = (profile.endTime - profile.startTime) / total;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  for (const node of profile.nodes) self.set(where(node), (self.get(where(node)) ?? 0) + (node.hitCount ?? 0));
  // Inclusive time of tollgate's own functions: each sample counts once per distinct frame on its stack.
  const inclusive = new Map<string, number>();
  const visit = (node: ProfileNode, onStack: Set<string>): number => {
    let hits = node.hitCount ?? 0;
    const key = where(node);
    const ours = /\/dist\/(src|policies|bench-build\/bench)\//.test(node.callFrame.url);
    const counted = ours && !onStack.has(key);
    if (counted) onStack.add(key);
    for (const child of node.children ?? []) {
      const childNode = byId.get(child);
      if (childNode) hits += visit(childNode, onStack);
    }
    if (counted) {
      onStack.delete(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + hits);
    }
    return hits;
  };
  const root = profile.nodes[0];
  if (root) visit(root, new Set());
  const print = (heading: string, table: Map<string, number>) => {
    process.stdout.write(`\n${heading}\n`);
    for (const [key, hits] of [...table].sort((a, b) => b[1] - a[1]).slice(0, TOP)) {
      const perReview = (hits * microsPerSample) / reviews;
      process.stdout.write(`${((100 * hits) / total).toFixed(1).padStart(6)}% ${perReview.toFixed(1).padStart(7)} µs/review  ${key}\n`);
    }
  };
  print(`self time (${total} samples)`, self);
  const byPackage = new Map<string, number>();
  for (const node of profile.nodes) {
    const key = packageOf(node.callFrame.url, node.callFrame.functionName);
    byPackage.set(key, (byPackage.get(key) ?? 0) + (node.hitCount ?? 0));
  }
  print('self time by package', byPackage);
  print('inclusive time of our own functions', inclusive);
}

const workDir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-profile-'));
const profileDir = path.join(workDir, 'profiles');
const certificate = await ensureDevCertificate(workDir);
const ctx = new BenchContext(
  { quick: true, seconds, rounds: 1, executions: 1, curveSeconds: seconds, curveRounds: 1, connections: 10, rate: 1000 },
  { cert: Buffer.from(certificate.cert), certFile: certificate.certFile, keyFile: certificate.keyFile },
  workDir,
  new Report(false),
  undefined,
);
try {
  const profiling = ['--cpu-prof', '--cpu-prof-dir', profileDir];
  const server = args.floor ? await ctx.startFloor('floor', profiling) : await ctx.startTollgate('tollgate', {
        nodeOptions: profiling,
        ...(args.config ? { args: ['--config', path.resolve(args.config)] } : {}),
        ...(args.dist ? { dist: path.resolve(args.dist) } : {}),
      });
  const body = standardBodies()[Number(args.body)];
  if (!body) throw new Error(`no body ${args.body}: 0, 1 or 2`);
  let reviews = 0;
  for (const endpoint of endpoints) {
    const result = await saturate(server, endpoint, body, { connections: 10, seconds });
    reviews += result.completed;
    process.stdout.write(`/${endpoint}, ${body.name}: ${Math.round(result.perSecond)} req/s, ${(result.cpuPerReview * 1e6).toFixed(0)} µs CPU per review\n`);
  }
  await ctx.stopAll();
  const file = readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error('no profile written');
  summarise(JSON.parse(readFileSync(path.join(profileDir, file), 'utf8')) as Profile, reviews);
} finally {
  await ctx.stopAll();
  rmSync(workDir, { recursive: true, force: true });
}
