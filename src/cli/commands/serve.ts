// `tollgate serve`: the webhook server.
import { Command, InvalidArgumentError } from 'commander';
import { ErrorCodes, TollgateError } from '../../errors.js';
import { createLogger } from '../../log/logger.js';
import { DEFAULT_DRAIN_MS, DEFAULT_HOST, DEFAULT_PORT, DEFAULT_TLS_MIN_VERSION, startServer, type RunningServer, type TlsMinVersion } from '../../http/serve.js';
import { MAX_IN_FLIGHT_REVIEWS } from '../../http/server.js';
import type { CliIO } from '../io.js';
import { maxBlockedOption, watchForHangs } from '../watchdog.js';
import { collect, parsePort, parsePositiveInteger, parseSeconds } from '../arguments.js';
import type { LevelWithSilent } from 'pino';

export function parseTlsVersion(value: string): TlsMinVersion {
  if (value === '1.2' || value === 'TLSv1.2') return 'TLSv1.2';
  if (value === '1.3' || value === 'TLSv1.3') return 'TLSv1.3';
  throw new InvalidArgumentError('must be 1.2 or 1.3');
}

interface ServeFlags {
  config?: string;
  port: number;
  host: string;
  cert?: string;
  key?: string;
  logLevel: LevelWithSilent;
  drainSeconds: number;
  maxInFlight: number;
  clientCa?: string;
  clientName: string[];
  tlsMinVersion: TlsMinVersion;
  maxBlockedSeconds: number;
}

export function serveCommand(_io: CliIO, setExitCode: (code: number) => void): Command {
  return new Command('serve')
    .description('run the admission webhook server (HTTPS)')
    .option('-c, --config <file>', 'policy config (YAML or JSON); default: the embedded example config')
    .option('-p, --port <port>', 'port to listen on', parsePort, DEFAULT_PORT)
    .option('--host <host>', 'address to bind', DEFAULT_HOST)
    .option('--cert <file>', 'serving certificate (PEM); without it a development certificate is made under certs/')
    .option('--key <file>', 'private key of the serving certificate (PEM)')
    .option('--client-ca <file>', 'require a client certificate signed by this CA on /mutate and /validate (the apiserver presents one when configured to)')
    .option('--client-name <name>', 'with --client-ca: the common name or DNS SAN the client certificate must carry (repeatable)', collect, [])
    .option('--tls-min-version <version>', 'lowest TLS version served: 1.2 or 1.3', parseTlsVersion, DEFAULT_TLS_MIN_VERSION)
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent', 'info')
    .option('--drain-seconds <seconds>', 'on SIGTERM, keep serving reviews this long (with /readyz failing) before closing', parseSeconds, DEFAULT_DRAIN_MS / 1000)
    .option('--max-in-flight <n>', 'reviews in flight beyond which a new one is answered 503 at once', parsePositiveInteger, MAX_IN_FLIGHT_REVIEWS)
    .addOption(maxBlockedOption())
    .action(async (flags: ServeFlags) => {
      if (flags.clientName.length > 0 && !flags.clientCa) throw new TollgateError(ErrorCodes.TG_ERR_USAGE, '--client-name needs --client-ca');
      const logger = createLogger({ level: flags.logLevel });
      // From the start, so that a policy whose create() never returns is caught too; for the life of the process.
      watchForHangs(flags.maxBlockedSeconds, 1, logger);
      const running: { server?: RunningServer } = {};
      let stopping = false;
      const exitAfterFlush = (code: number) => logger.flush(() => process.exit(code));
      const stop = (signal: string) => {
        // A second signal skips what is left of the drain.
        const graceful = !stopping;
        stopping = true;
        const { server } = running;
        logger.info({ signal, drainSeconds: graceful && server ? flags.drainSeconds : 0 }, 'shutting down');
        // Before the server is up there is nothing to drain; the lines logged so far still go out.
        if (!server) {
          exitAfterFlush(0);
          return;
        }
        (graceful ? server.shutdown() : server.close()).then(
          () => exitAfterFlush(0),
          (err: unknown) => {
            logger.error({ err: String(err) }, 'shutdown failed');
            exitAfterFlush(1);
          },
        );
      };
      // Handled from the start, so that a signal during start-up does not kill the process with lines unwritten.
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
      running.server = await startServer({
        logger,
        port: flags.port,
        host: flags.host,
        drainMs: flags.drainSeconds * 1000,
        maxInFlightReviews: flags.maxInFlight,
        ...(flags.config ? { configFile: flags.config } : {}),
        ...(flags.cert ? { certFile: flags.cert } : {}),
        ...(flags.key ? { keyFile: flags.key } : {}),
        ...(flags.clientCa ? { clientCaFile: flags.clientCa } : {}),
        clientNames: flags.clientName,
        tlsMinVersion: flags.tlsMinVersion,
      });
      // A policy's stray promise or callback must not take every pod creation down with it.
      process.on('unhandledRejection', (reason) => logger.error({ err: String(reason) }, 'unhandled rejection (contained)'));
      process.on('uncaughtException', (err) => logger.error({ err: err.stack ?? String(err) }, 'uncaught exception (contained)'));
      setExitCode(0);
    });
}
