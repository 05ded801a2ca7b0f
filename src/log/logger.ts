// The process logger: pino, JSON lines, written asynchronously so a review never waits on stdout.
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level?: LevelWithSilent;
  /** Where lines go; defaults to an asynchronous stdout destination. */
  destination?: pino.DestinationStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = options.destination ?? pino.destination({ dest: 1, sync: false, minLength: 0 });
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: 'tollgate' },
      timestamp: pino.stdTimeFunctions.isoTime,
      // No redaction pass: it costs every line (a third of a review line's cost, measured), and the
      // code never hands an object under review to the logger (test/security checks the lines).
    },
    destination,
  );
}
