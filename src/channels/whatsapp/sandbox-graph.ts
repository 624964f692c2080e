/**
 * What every route of the fake Graph API shares: the accounts it serves, bearer-token
 * authentication, Graph-shaped error answers and Meta-looking ids. Routes live in their own
 * files (`sandbox-media.ts`, later the send endpoint) and only take a `FakeState`.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AccountConfig } from '../../core/config/types.ts';
import type { Clock } from '../../core/clock.ts';
import type { WebhookRequestSpec } from '../../core/adapter.ts';
import type { WhatsAppSettings } from './config.ts';
import type { MediaStore } from './sandbox-media.ts';

/** A WhatsApp account as the sandbox sees it. */
export type WhatsAppAccount = AccountConfig<WhatsAppSettings>;

/** The mutable state behind one fake, handed to every route module. */
export interface FakeState {
  /** Accounts keyed by `phoneNumberId`, replaced wholesale by `setAccounts`. */
  accounts: Map<string, WhatsAppAccount>;
  clock: Clock;
  media: MediaStore;
  /** Path prefix the fake is mounted under (`/sandbox/whatsapp` in the daemon, '' standalone). */
  basePath: string;
  deliverWebhook: ((request: WebhookRequestSpec) => Promise<void>) | undefined;
}

/** Index accounts by phone-number id, skipping any without one so a bad reload cannot crash a route. */
export function indexAccounts(accounts: ReadonlyArray<WhatsAppAccount>): Map<string, WhatsAppAccount> {
  const byPhoneNumberId = new Map<string, WhatsAppAccount>();
  for (const account of accounts) {
    const id = account.settings?.phoneNumberId;
    if (typeof id === 'string' && id !== '') byPhoneNumberId.set(id, account);
  }
  return byPhoneNumberId;
}

/** Whoever presented a valid token: the phone numbers that token may act for. */
export interface Principal {
  phoneNumberIds: ReadonlySet<string>;
}

function sameSecret(a: string, b: string): boolean {
  // Hash first so lengths match and the compare stays constant-time.
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/**
 * Resolve the bearer token (or Graph's `access_token` query parameter, unless `headerOnly`)
 * to the phone numbers it owns; null when missing or unknown. One token may own several numbers,
 * as a Meta system-user token does.
 */
export function authenticate(state: FakeState, request: Request, headerOnly = false): Principal | null {
  const header = request.headers.get('authorization') ?? '';
  const match = /^bearer\s+(\S+)\s*$/i.exec(header);
  let token = match?.[1];
  if (token === undefined && !headerOnly) token = new URL(request.url).searchParams.get('access_token') ?? undefined;
  if (token === undefined || token === '') return null;
  const phoneNumberIds = new Set<string>();
  for (const [id, account] of state.accounts) {
    const expected = account.settings.accessToken;
    if (typeof expected === 'string' && expected !== '' && sameSecret(token, expected)) phoneNumberIds.add(id);
  }
  return phoneNumberIds.size > 0 ? { phoneNumberIds } : null;
}

/** The body of a Graph error, without `fbtrace_id` (added when answering). */
export interface GraphErrorBody {
  message: string;
  type: string;
  code: number;
  error_subcode?: number;
  error_data?: { messaging_product: 'whatsapp'; details: string };
}

/** Answer a Graph-shaped error: `{ "error": { message, type, code, ..., fbtrace_id } }`. */
export function graphError(status: number, error: GraphErrorBody, headers: Record<string, string> = {}): Response {
  const body = JSON.stringify({ error: { ...error, fbtrace_id: fbtraceId() } });
  return new Response(body, { status, headers: { 'content-type': 'application/json; charset=UTF-8', ...headers } });
}

/** Answer a Graph success body with Graph's content type. */
export function graphJson(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json; charset=UTF-8' } });
}

/** 401 for a missing or unknown token (code 190), as Graph answers it. */
export function invalidToken(): Response {
  const message = 'Invalid OAuth access token - Cannot parse access token';
  return graphError(401, { message, type: 'OAuthException', code: 190 }, {
    'www-authenticate': `OAuth "Facebook Platform" "invalid_token" "${message}"`,
  });
}

/**
 * 400 for an id that does not exist or that the token may not see; Graph does not tell the
 * two apart, so neither does the fake.
 */
export function unknownObject(method: string, id: string): Response {
  const message =
    `Unsupported ${method.toLowerCase()} request. Object with ID '${id}' does not exist, cannot be loaded due to ` +
    'missing permissions, or does not support this operation. Please read the Graph API documentation at ' +
    'https://developers.facebook.com/docs/graph-api';
  return graphError(400, { message, type: 'GraphMethodException', code: 100, error_subcode: 33 });
}

/** 400 code 100 for a missing or malformed parameter (`(#100) ...`). */
export function invalidParameter(message: string): Response {
  return graphError(400, { message: `(#100) ${message}`, type: 'OAuthException', code: 100 });
}

/** A WhatsApp-specific error (`(#131053) Media upload error` and friends) with `error_data.details`. */
export function whatsappError(status: number, code: number, title: string, details: string): Response {
  return graphError(status, {
    message: `(#${code}) ${title}`,
    type: 'OAuthException',
    code,
    error_data: { messaging_product: 'whatsapp', details },
  });
}

/** Graph's answer to a path it has no route for. */
export function unknownPath(path: string): Response {
  return graphError(400, { message: `Unknown path components: ${path}`, type: 'OAuthException', code: 2500 });
}

/** Graph's catch-all for a server fault; the fake answers it rather than throwing out of a handler. */
export function unknownError(): Response {
  return graphError(500, { message: 'An unknown error has occurred.', type: 'OAuthException', code: 1 });
}

/** A `fbtrace_id`-looking token: 11 base64url characters. */
export function fbtraceId(): string {
  return randomBytes(8).toString('base64url').slice(0, 11);
}

/** A Meta-looking object id: 16 decimal digits, never starting with 0. */
export function numericId(): string {
  const digits = Array.from(randomBytes(16), (byte) => byte % 10);
  digits[0] = (digits[0]! % 9) + 1;
  return digits.join('');
}

/** A stable digit string derived from `seed` (WABA ids and display numbers must not change per call). */
export function digitsFrom(seed: string, length: number): string {
  const hash = createHash('sha256').update(seed).digest();
  let digits = '';
  for (let i = 0; digits.length < length; i++) digits += String(hash[i % hash.length]! % 10);
  return digits;
}

/** The sandbox number's display digits (`1555…`, Meta's test-number range), stable per phone-number id. */
export function displayPhoneNumber(phoneNumberId: string): string {
  return `1555${digitsFrom(`display:${phoneNumberId}`, 7)}`;
}

/** The WABA id of an account: its configured `wabaId`, else a stable one derived from the number. */
export function wabaIdOf(settings: WhatsAppSettings): string {
  return settings.wabaId ?? `1${digitsFrom(`waba:${settings.phoneNumberId}`, 14)}`;
}
