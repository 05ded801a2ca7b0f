// What every scenario is given: the servers, the run's time budget, the certificate, the report,
// and `alternate`, which runs floor and tollgate turn about so that drift on the machine hits both.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Body } from './bodies.js';
import { probe, warmUp, type Endpoint } from './load.js';
import { mean, ratioInterval, sideLevel, type Report } from './report.js';
import { spawnServer, type ServerProcess } from './processes.js';

/** The compiled benchmark (dist/bench-build/) and the repository it was built from. */
const BUILD_DIR = fileURLToPath(new URL('../../', import.meta.url));
export const REPO_ROOT = path.resolve(BUILD_DIR, '../..');
export const TOLLGATE_DIST = path.join(REPO_ROOT, 'dist');
export const FLOOR_SCRIPT = path.join(BUILD_DIR, 'bench', 'floor.js');
export const NOOP_POLICY = path.join(BUILD_DIR, 'bench', 'policies', 'noop-validating.js');

export interface Certificate {
  cert: Buffer;
  certFile: string;
  keyFile: string;
}

export interface BenchSettings {
  quick: boolean;
  /**
   * A point of the saturation comparison is `rounds` runs of `seconds` on each side, the order
   * flipped every round, summarised by the median: short runs, turn about, so that a slow spell on
   * a shared machine lands on both sides and one bad run does not decide the number. On the 2-core
   * VM this was tuned on, one second's throughput of the same server ranged over 2× from run to
   * run (the CPU each review cost moved with it, on the load generator too), in spells shorter
   * than a second: only more runs narrow the median, so a saturation point takes `rounds` rounds of
   * half a second on each of `executions` processes a side (autocannon ends sub-second runs on
   * time: load.ts).
   */
  seconds: number;
  rounds: number;
  /**
   * Processes of each side in the saturation comparison, its runs spread over them alike. Two
   * processes of one build, alternated in one run, kept a throughput up to 15% apart for the whole
   * run, both floor and tollgate (the same with fixed hash and random seeds, no ASLR, the servers
   * pinned to one core and the client to the other, no concurrent JIT compilation, a fixed young
   * generation, or transparent huge pages): one process a side drew one such level for the side's
   * whole run. The process levels, not the rounds, are what a run's ratio is uncertain by, so a
   * point is spread over five processes a side, eight rounds each (report.ts, sideLevel).
   */
  executions: number;
  /** The same for each point of the cost curves. */
  curveSeconds: number;
  curveRounds: number;
  /** Keep-alive connections of a saturation run. */
  connections: number;
  /** The fixed, moderate rate of the latency runs. */
  rate: number;
}

/** One number for each compared side. */
export interface SideNumbers {
  floor?: number;
  tollgate: number;
  baseline?: number;
}

/** Each compared server (floor, tollgate, baseline) and the processes of its side, itself first. */
export type ExecutionGroups = Map<ServerProcess, ServerProcess[]>;

export class BenchContext {
  private started = 0;
  private readonly servers: ServerProcess[] = [];
  private readonly floors = new Set<ServerProcess>();
  floor!: ServerProcess;
  tollgate!: ServerProcess;
  /** Tollgate as built in BENCH_BASELINE, run beside the current build to measure a change. */
  baseline: ServerProcess | undefined;

  constructor(
    readonly settings: BenchSettings,
    readonly certificate: Certificate,
    readonly workDir: string,
    readonly report: Report,
    readonly baselineDist: string | undefined,
  ) {}

  log(line: string): void {
    process.stderr.write(`${line}\n`);
  }

  /** The servers every comparison runs on: floor, tollgate and the baseline when there is one. */
  get compared(): ServerProcess[] {
    return [this.floor, this.tollgate, ...(this.baseline ? [this.baseline] : [])];
  }

  isFloor(server: ServerProcess): boolean {
    return this.floors.has(server);
  }

  /** Checks that `server` answers `body` as it should (allowed; patched, by tollgate's /mutate), then warms it up on it. */
  async checkAndWarmUp(server: ServerProcess, endpoint: Endpoint, body: Body): Promise<void> {
    const answer = await probe(server, endpoint, body, this.certificate.cert);
    if (!answer.allowed) throw new Error(`${server.label} /${endpoint} denied ${body.name}`);
    if (!this.isFloor(server) && endpoint === 'mutate' && !answer.patched) throw new Error(`${server.label} /mutate did not patch ${body.name}`);
    await warmUp(server, endpoint, body, this.settings.connections);
  }

  async startFloor(label = 'floor', nodeOptions: string[] = []): Promise<ServerProcess> {
    const n = ++this.started;
    const server = await spawnServer({
      label,
      args: [FLOOR_SCRIPT, '--cert', this.certificate.certFile, '--key', this.certificate.keyFile],
      nodeOptions,
      logFile: path.join(this.workDir, `${n}-${label.replace(/\W+/g, '-')}.log`),
      readyMessage: 'floor is serving',
    });
    this.servers.push(server);
    this.floors.add(server);
    return server;
  }

  /**
   * Tollgate's real `serve` command. `config` is written to a file (absent: the embedded default);
   * `dist` is the build to run; `args` are appended to the command line (later flags win).
   */
  async startTollgate(label: string, options: { config?: unknown; dist?: string; nodeOptions?: string[]; args?: string[] } = {}): Promise<ServerProcess> {
    const n = ++this.started;
    const args = [path.join(options.dist ?? TOLLGATE_DIST, 'src', 'cli', 'bin.js'), 'serve', '--host', '127.0.0.1', '--port', '0'];
    args.push('--cert', this.certificate.certFile, '--key', this.certificate.keyFile, '--log-level', 'info', '--drain-seconds', '0');
    if (options.config !== undefined) {
      const file = path.join(this.workDir, `${n}-config.json`);
      writeFileSync(file, JSON.stringify(options.config, null, 2));
      args.push('--config', file);
    }
    const server = await spawnServer({
      label,
      args: [...args, ...(options.args ?? [])],
      nodeOptions: options.nodeOptions ?? [],
      logFile: path.join(this.workDir, `${n}-${label.replace(/\W+/g, '-')}.log`),
      readyMessage: 'tollgate is serving',
    });
    this.servers.push(server);
    return server;
  }

  async stop(server: ServerProcess): Promise<void> {
    await server.stop();
    this.servers.splice(this.servers.indexOf(server), 1);
    this.floors.delete(server);
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.stop()));
    this.servers.length = 0;
  }

  /**
   * Each compared server with `count` more processes of the same build beside it (stopped with the
   * rest), for `alternateExecutions`.
   */
  async startExecutions(count: number): Promise<ExecutionGroups> {
    const groups: ExecutionGroups = new Map(this.compared.map((server) => [server, [server]]));
    for (let n = 1; n <= count; n++) {
      groups.get(this.floor)?.push(await this.startFloor(`floor #${n + 1}`));
      groups.get(this.tollgate)?.push(await this.startTollgate(`tollgate #${n + 1}`));
      if (this.baseline && this.baselineDist) groups.get(this.baseline)?.push(await this.startTollgate(`baseline #${n + 1}`, { dist: this.baselineDist }));
    }
    return groups;
  }

  /**
   * `alternate` over every process of every group, each round taking the groups' first processes,
   * then their second ones, and so on (the order reversed every round), so that a floor's run always
   * sits beside its tollgate's. Returns each group's runs under its first process, process by
   * process: [process][round].
   */
  async alternateExecutions<T extends { errors: number }>(groups: ExecutionGroups, rounds: number, run: (server: ServerProcess) => Promise<T>): Promise<Map<ServerProcess, T[][]>> {
    const sides = [...groups.values()];
    const depth = Math.min(...sides.map((processes) => processes.length));
    const order: ServerProcess[] = [];
    for (let n = 0; n < depth; n++) for (const processes of sides) order.push(processes[n]!);
    const each = await this.alternate(order, rounds, run);
    return new Map([...groups].map(([first, processes]) => [first, processes.slice(0, depth).map((member) => each.get(member) ?? [])]));
  }

  /** One number per side from `alternateExecutions`' results: the sideLevel of `pick` (report.ts). */
  levels<T>(results: Map<ServerProcess, T[][]>, pick: (result: T) => number): SideNumbers {
    return this.bySide((server) => {
      const runs = results.get(server);
      return runs ? sideLevel(runs.map((processRuns) => processRuns.map(pick))) : undefined;
    });
  }

  /** The 95% intervals (ratioInterval, report.ts) of tollgate/floor and tollgate/baseline from `alternateExecutions`' results. */
  intervals<T>(results: Map<ServerProcess, T[][]>, pick: (result: T) => number): { interval?: [number, number]; baselineInterval?: [number, number] } {
    const side = (server: ServerProcess | undefined) => (server ? results.get(server)?.map((runs) => runs.map(pick)) : undefined);
    const [tollgate, floor, baseline] = [side(this.tollgate), side(this.floor), side(this.baseline)];
    if (!tollgate) return {};
    return { ...(floor ? { interval: ratioInterval(tollgate, floor) } : {}), ...(baseline ? { baselineInterval: ratioInterval(tollgate, baseline) } : {}) };
  }

  private flip = false;

  /** One number per side from `alternate`'s results: `combine` (the mean) of `pick` over the rounds. */
  values<T>(results: Map<ServerProcess, T[]>, pick: (result: T) => number, combine: (values: number[]) => number = mean): SideNumbers {
    return this.bySide((server) => {
      const list = results.get(server);
      return list && list.length > 0 ? combine(list.map(pick)) : undefined;
    });
  }

  /** The compared sides' numbers, `of` each side's server; a side without one is left out (tollgate's is NaN). */
  private bySide(of: (server: ServerProcess) => number | undefined): SideNumbers {
    const get = (server: ServerProcess | undefined) => (server ? of(server) : undefined);
    const [floor, baseline] = [get(this.floor), get(this.baseline)];
    return { tollgate: get(this.tollgate) ?? Number.NaN, ...(floor === undefined ? {} : { floor }), ...(baseline === undefined ? {} : { baseline }) };
  }

  /**
   * Runs `run` on each server, `rounds` times, reversing the order every round (and every call),
   * so that a slow spell on the machine lands on both sides. Returns each server's results, and
   * counts their failed requests in the report.
   */
  async alternate<T extends { errors: number }>(servers: readonly ServerProcess[], rounds: number, run: (server: ServerProcess) => Promise<T>): Promise<Map<ServerProcess, T[]>> {
    const results = new Map<ServerProcess, T[]>(servers.map((s) => [s, []]));
    for (let round = 0; round < rounds; round++) {
      this.flip = !this.flip;
      const order = this.flip ? servers : [...servers].reverse();
      for (const server of order) {
        const result = await run(server);
        this.report.runs++;
        this.report.errors += result.errors;
        if (result.errors > 0) this.log(`  ${server.label}: ${result.errors} failed requests`);
        results.get(server)?.push(result);
      }
    }
    return results;
  }
}
