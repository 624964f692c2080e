/**
 * The last-resort net of `omnibus start`: a promise rejection or exception nothing caught is
 * logged at error and the daemon carries on, because it is almost always one request's or one
 * job's failure, and ending the process would cost every other request and webhook in flight.
 * Root causes are fixed where they happen; this only keeps a missed one from being fatal.
 *
 * What is logged is the error's type, code and stack frames, never its message: messages
 * may quote personal data (a database error echoes the row's values). Exceptions that keep
 * coming (a broken process, not a bad request) end it after all, so a supervisor restarts it.
 */
import type { Logger } from 'pino';

/** Uncaught exceptions within `WINDOW_MS` that make the process give up. */
const FATAL_BURST = 20;
const WINDOW_MS = 60_000;

/** What is safe to log about anything thrown. */
export function describeThrown(thrown: unknown): { type: string; code?: string; stack?: string[] } {
  if (!(thrown instanceof Error)) return { type: thrown === null ? 'null' : typeof thrown };
  const code = (thrown as { code?: unknown }).code;
  // Frames only: the first stack line repeats the message.
  const stack = (thrown.stack ?? '')
    .split('\n')
    .filter((line) => /^\s+at /.test(line))
    .slice(0, 8)
    .map((line) => line.trim());
  return { type: thrown.name, ...(typeof code === 'string' ? { code } : {}), ...(stack.length ? { stack } : {}) };
}

/** Installs the guard on `target` (the process); returns a function that removes it. */
export function installProcessGuard(logger: Logger, target: NodeJS.Process = process, exit: (code: number) => void = (code) => process.exit(code)): () => void {
  let recent: number[] = [];
  const onRejection = (reason: unknown) => {
    logger.error({ error: describeThrown(reason) }, 'unhandled promise rejection; the daemon carries on');
  };
  const onException = (error: unknown) => {
    const now = Date.now();
    recent = [...recent.filter((at) => now - at < WINDOW_MS), now];
    if (recent.length >= FATAL_BURST) {
      logger.fatal({ error: describeThrown(error), count: recent.length }, 'uncaught exceptions keep coming; exiting so the supervisor restarts the daemon');
      exit(1);
      return;
    }
    logger.error({ error: describeThrown(error) }, 'uncaught exception; the daemon carries on');
  };
  target.on('unhandledRejection', onRejection);
  target.on('uncaughtException', onException);
  return () => {
    target.off('unhandledRejection', onRejection);
    target.off('uncaughtException', onException);
  };
}
