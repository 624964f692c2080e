/**
 * Field schemas shared by the daemon and channel files. Values from `${ENV}` are strings, so the
 * daemon's own numeric and boolean fields also accept their text form (`port: ${PORT:-8080}`).
 */
import { z } from 'zod';
import { DURATION_HINT, DURATION_PATTERN, formatDuration, parseDuration } from './duration.ts';

/** Inner schemas of env-coercible fields, so the JSON Schema can also allow a `${ENV}` string. */
export const envCoercible = new WeakSet<object>();

/** JSON Schema keywords for fields whose check zod cannot express (a transform), for editors. */
export const jsonHints = new WeakMap<object, Record<string, unknown>>();

const INTEGER_TEXT = /^\s*-?\d+\s*$/;
const NUMBER_TEXT = /^\s*-?\d+(\.\d+)?\s*$/;

/** An integer field that also accepts its digits as a string. */
export function envInteger<T extends z.ZodNumber>(schema: T) {
  envCoercible.add(schema);
  return z.preprocess((value) => (typeof value === 'string' && INTEGER_TEXT.test(value) ? Number(value) : value), schema);
}

/** A number field that also accepts its decimal text as a string. */
export function envNumber<T extends z.ZodNumber>(schema: T) {
  envCoercible.add(schema);
  return z.preprocess((value) => (typeof value === 'string' && NUMBER_TEXT.test(value) ? Number(value) : value), schema);
}

/** A boolean field that also accepts `true` / `false` as a string. */
export function envBoolean() {
  const schema = z.boolean();
  envCoercible.add(schema);
  return z.preprocess((value) => {
    if (typeof value !== 'string') return value;
    const text = value.trim().toLowerCase();
    return text === 'true' ? true : text === 'false' ? false : value;
  }, schema);
}

/**
 * A nested group of fields (`http:`, `session:`), strict, every field optional. `http:` with all
 * its lines commented out is null in YAML; that means "all defaults", not an error.
 */
export function section<T extends z.core.$ZodLooseShape>(shape: T) {
  const object = z.strictObject(shape);
  jsonHints.set(object, { type: ['object', 'null'] });
  return z.preprocess((value) => value ?? {}, object).prefault({});
}

/** An absolute http(s) URL; a trailing slash is dropped so callers can append paths. */
export function httpUrl() {
  return z
    .string()
    .refine((text) => hasScheme(text, ['http:', 'https:']), 'must be an absolute http:// or https:// URL')
    .transform((text) => text.trim().replace(/\/+$/, ''));
}

/** True when `text` parses as a URL with one of `schemes` and a host. */
export function hasScheme(text: string, schemes: ReadonlyArray<string>): boolean {
  try {
    const url = new URL(text.trim());
    return schemes.includes(url.protocol) && url.hostname !== '';
  } catch {
    // Not a URL at all: the caller reports it as a validation issue.
    return false;
  }
}

/** `window: 24` is a duration without its unit: reported as such, not as a type error. */
function numberAsText(value: unknown): unknown {
  return typeof value === 'number' ? String(value) : value;
}

/** A parsed window: milliseconds (null for `none`) and its normalised text. */
export interface ParsedWindow {
  ms: number | null;
  text: string;
}

/** A duration or `none`, as `session.window`. */
export function windowField() {
  const text = z.string();
  jsonHints.set(text, { pattern: `^(none|${DURATION_PATTERN.slice(1, -1)})$` });
  return z.preprocess(numberAsText, text).transform((text, ctx): ParsedWindow => {
    if (text.trim().toLowerCase() === 'none') return { ms: null, text: 'none' };
    const ms = parseDuration(text);
    if (ms === null) {
      ctx.issues.push({ code: 'custom', input: text, message: `not a duration: ${DURATION_HINT}, or none` });
      return z.NEVER;
    }
    return { ms, text: formatDuration(ms) };
  });
}

/** A positive duration in milliseconds (`none` is not allowed). */
export function durationField() {
  const text = z.string();
  jsonHints.set(text, { pattern: DURATION_PATTERN });
  return z.preprocess(numberAsText, text).transform((text, ctx): number => {
    const ms = parseDuration(text);
    if (ms === null) {
      const none = text.trim().toLowerCase() === 'none';
      ctx.issues.push({
        code: 'custom',
        input: text,
        message: none ? `"none" is only allowed for session.window; ${DURATION_HINT}` : `not a duration: ${DURATION_HINT}`,
      });
      return z.NEVER;
    }
    return ms;
  });
}
