/**
 * A small human-readable form of the daemon's JSON log lines, for a terminal or
 * `log.format: pretty`: `12:00:01.123 WARN  [sender] send failed; will retry account=acme-wa code=…`.
 * The fields are the JSON line's own (redaction already applied); nothing is added or dropped.
 */
const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const COLOURS: Record<number, string> = { 10: '90', 20: '90', 30: '32', 40: '33', 50: '31', 60: '35' };
/** Fields shown in the prefix, or noise on a terminal. */
const SKIPPED = new Set(['level', 'time', 'msg', 'component', 'service', 'pid', 'hostname']);

/** Formats one JSON log line; a line that is not JSON is returned as it is. */
export function formatPretty(line: string, colour = false): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const level = typeof entry.level === 'number' ? entry.level : 30;
  const name = (LEVELS[level] ?? String(level)).padEnd(5);
  const time = typeof entry.time === 'string' ? entry.time.slice(11, 23) : '';
  const component = typeof entry.component === 'string' ? ` [${entry.component}]` : '';
  const fields = Object.entries(entry)
    .filter(([key]) => !SKIPPED.has(key))
    .map(([key, value]) => `${key}=${typeof value === 'string' && !/\s/.test(value) ? value : JSON.stringify(value)}`);
  const shown = colour ? `\u001b[${COLOURS[level] ?? '0'}m${name}\u001b[0m` : name;
  const stack = typeof (entry.err as { stack?: unknown } | undefined)?.stack === 'string' ? `\n${(entry.err as { stack: string }).stack}` : '';
  return `${time} ${shown}${component} ${String(entry.msg ?? '')}${fields.length ? ` ${fields.join(' ')}` : ''}${stack}\n`;
}

/** A pino destination writing the pretty form to `out` (stdout by default). */
export function prettyDestination(out: NodeJS.WritableStream = process.stdout): { write(line: string): boolean } {
  const colour = (out as { isTTY?: boolean }).isTTY === true && !process.env.NO_COLOR;
  return { write: (line: string) => out.write(formatPretty(line, colour)) };
}
