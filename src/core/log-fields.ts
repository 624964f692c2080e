/**
 * How a failure goes into a log line. Expected conditions (a platform that is down, a refused
 * call: an OmniError or an HTTP client failure) log their `code` and `reason` only; a stack
 * trace there is noise an operator learns to ignore. Anything else is a bug: the full `err`.
 */
import { OmniError } from './errors.ts';
import { HttpClientError } from './http-client.ts';

export function failureFields(error: unknown): { code: string; reason: string } | { err: unknown } {
  if (error instanceof OmniError) return { code: error.code, reason: error.message };
  if (error instanceof HttpClientError) return { code: `http_${error.reason}`, reason: error.message };
  return { err: error };
}
