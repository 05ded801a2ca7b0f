// `tollgate serve`: the webhook server.
import { Command, InvalidArgumentError } from 'commander';
import { createLogger } from '../../log/logger.js';
import { DEFAULT_HOST, DEFAULT_PORT, startServer } from '../../http/serve.js';
import type { CliIO } from '../io.js';
import type { LevelWithSilent } from 'pino';

export function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError('must be a port number (0-65535)');
  return port;
}

interface ServeFlags {
  config?: string;
  port: number;
  host: string;
  cert?: string;
  key?: string;
  logLevel: LevelWithSilent;
}

export function serveCommand(_io: CliIO, setExitCode: (code: number) => void): Command {
  return new Command('serve')
    .description('run the admission webhook server (HTTPS)')
    .option('-c, --config <file>', 'policy config (YAML or JSON); default: the embedded example config')
    .option('-p, --port <port>', 'port to listen on', parsePort, DEFAULT_PORT)
    .option('--host <host>', 'address to bind', DEFAULT_HOST)
    .option('--cert <file>', 'serving certificate (PEM); without it a development certificate is made under certs/')
    .option('--key <file>', 'private key of the serving certificate (PEM)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent', 'info')
    .action(async (flags: ServeFlags) => {
      const logger = createLogger({ level: flags.logLevel });
      const server = await startServer({
        logger,
        port: flags.port,
        host: flags.host,
        ...(flags.config ? { configFile: flags.config } : {}),
        ...(flags.cert ? { certFile: flags.cert } : {}),
        ...(flags.key ? { keyFile: flags.key } : {}),
      });
      const stop = (signal: string) => {
        logger.info({ signal }, 'shutting down');
        server.close().then(
          () => logger.flush(() => process.exit(0)),
          (err: unknown) => {
            logger.error({ err: String(err) }, 'shutdown failed');
            logger.flush(() => process.exit(1));
          },
        );
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
      // A policy's stray promise or callback must not take every pod creation down with it.
      process.on('unhandledRejection', (reason) => logger.error({ err: String(reason) }, 'unhandled rejection (contained)'));
      process.on('uncaughtException', (err) => logger.error({ err: err.stack ?? String(err) }, 'uncaught exception (contained)'));
      setExitCode(0);
    });
}
