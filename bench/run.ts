// `npm run bench`: starts the floor and tollgate side by side, runs every scenario (or those named
// in BENCH_ONLY), and prints one Markdown table of floor, tollgate and their ratio from this run.
//   BENCH_QUICK=1          about a minute instead of about five
//   BENCH_ONLY=a,b         only these scenarios (saturation, latency, policy-count, containers,
//                          scale-out, body-size, handshake, allocation)
//   BENCH_BASELINE=<dist>  also run the tollgate built in <dist> (a copy of dist/ from before a
//                          change) beside the current one, and print the ratio of the two
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureDevCertificate } from '../src/tls/dev-certificate.js';
import { standardBodies } from './lib/bodies.js';
import { BenchContext, REPO_ROOT, type BenchSettings } from './lib/context.js';
import { Report } from './lib/report.js';
import * as allocation from './allocation.js';
import * as bodySize from './body-size.js';
import * as containers from './containers.js';
import * as handshake from './handshake.js';
import * as latency from './latency.js';
import * as policyCount from './policy-count.js';
import * as saturation from './saturation.js';
import * as scaleOut from './scale-out.js';

// Scale-out reads the RSS of the servers every scenario shares: it runs before body-size, whose
// reviews of several MiB would leave their high-water mark in its one-process figure.
const SCENARIOS: Record<string, { title: string; run(ctx: BenchContext): Promise<void> }> = {
  saturation,
  latency,
  'policy-count': policyCount,
  containers,
  'scale-out': scaleOut,
  'body-size': bodySize,
  handshake,
  allocation,
};

const quick = process.env.BENCH_QUICK === '1';
const settings: BenchSettings = quick
  ? { quick, seconds: 1, rounds: 1, executions: 1, curveSeconds: 1, curveRounds: 1, connections: 10, rate: 1000 }
  : { quick, seconds: 0.5, rounds: 8, executions: 5, curveSeconds: 1, curveRounds: 3, connections: 10, rate: 1000 };
const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim()).filter(Boolean);
const unknown = only?.filter((name) => !(name in SCENARIOS)) ?? [];
if (unknown.length > 0) throw new Error(`unknown scenario ${unknown.join(', ')}; known: ${Object.keys(SCENARIOS).join(', ')}`);
const baselineDist = process.env.BENCH_BASELINE ? path.resolve(process.env.BENCH_BASELINE) : undefined;

const workDir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-bench-'));
const report = new Report(baselineDist !== undefined);
const certificate = await ensureDevCertificate(workDir);
const ctx = new BenchContext(settings, { cert: Buffer.from(certificate.cert), certFile: certificate.certFile, keyFile: certificate.keyFile }, workDir, report, baselineDist);

const startedAt = new Date();
const loadBefore = os.loadavg()[0] ?? 0;
try {
  ctx.floor = await ctx.startFloor();
  ctx.tollgate = await ctx.startTollgate('tollgate');
  if (baselineDist) ctx.baseline = await ctx.startTollgate('baseline', { dist: baselineDist });

  // Every server answers every body correctly before anything is timed, and is warmed up on it.
  for (const body of standardBodies()) {
    for (const endpoint of ['validate', 'mutate'] as const) {
      for (const server of ctx.compared) await ctx.checkAndWarmUp(server, endpoint, body);
    }
  }

  for (const [name, scenario] of Object.entries(SCENARIOS)) {
    if (only && !only.includes(name)) continue;
    await scenario.run(ctx);
  }
} finally {
  await ctx.stopAll();
}

const seconds = Math.round((Date.now() - startedAt.getTime()) / 1000);
const cpu = os.cpus();
const command = `${quick ? 'BENCH_QUICK=1 ' : ''}${only ? `BENCH_ONLY=${only.join(',')} ` : ''}${baselineDist ? 'BENCH_BASELINE=... ' : ''}npm run bench`;
const summary = [
  `\`${command}\` on ${startedAt.toISOString().slice(0, 16)}Z: node ${process.version}, ${cpu.length} × ${cpu[0]?.model.trim() ?? 'cpu'}, ` +
    `load average ${loadBefore.toFixed(2)} at start, ${(os.loadavg()[0] ?? 0).toFixed(2)} at end; ${seconds} s.`,
  `Keep-alive HTTP/1.1, no pipelining, \`?timeout=10s\`; ${settings.connections} connections at saturation. Each point: floor and tollgate alternated, ` +
    `saturation: ${settings.executions} process${settings.executions === 1 ? '' : 'es'} a side × ${settings.rounds} round${settings.rounds === 1 ? '' : 's'} × ${settings.seconds} s, the mean of each process's median; ` +
    `curves, handshake, scale-out: median of ${settings.curveRounds} × ${settings.curveSeconds} s (allocation: twice that); latency: the median of each run's percentiles. ` +
    `In brackets after a saturation ratio: its 95% interval, by bootstrap over each side's processes and their rounds: what this run can resolve. ` +
    `Server durationMs, trimmed mean: tollgate's own time for a review (decode, policies, encode), from its log lines, the mean of the middle 80% of a run's, median of the runs.`,
  `Failed requests: ${report.errors} in ${report.runs} measured runs.`,
];
process.stdout.write(`\n${summary.join('\n')}\n\n${report.toMarkdown()}\n`);

const resultsDir = path.join(REPO_ROOT, 'bench', 'results');
mkdirSync(resultsDir, { recursive: true });
const resultsFile = path.join(resultsDir, `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(resultsFile, `${JSON.stringify({ command, startedAt, settings, summary, rows: report.rows }, null, 2)}\n`);
process.stderr.write(`results: ${path.relative(REPO_ROOT, resultsFile)}\n`);
rmSync(workDir, { recursive: true, force: true });
process.exitCode = report.errors > 0 ? 1 : 0;
