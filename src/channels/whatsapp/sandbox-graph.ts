/**
 * What every route of the fake Graph API shares: the accounts it serves (by phone-number id),
 * Graph's token rules, Graph-shaped error answers and Meta-looking ids. The generic parts come
 * from the sandbox kit; routes live in their own files and only take a `FakeState`.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { AccountConfig } from '../../core/config/types.ts';
import type { Clock } from '../../core/clock.ts';
import { AccountIndex, jsonAnswer, requestToken, tokenOwners, type DeliverCallback, type MediaStore } from '../../sandbox/index.ts';
import type { WhatsAppSettings } from './config.ts';

/** A WhatsApp account as the sandbox sees it. */
export type WhatsAppAccount = AccountConfig<WhatsAppSettings>;

/** The mutable state behind one fake, handed to every route module. */
export interface FakeState {
  /** Accounts keyed by `phoneNumberId`, replaced wholesale by `setAccounts`. */
  accounts: AccountIndex<WhatsAppSettings>;
  clock: Clock;
  media: MediaStore;
  /** Path prefix the fake is mounted under (`/sandbox/whatsapp` in the daemon, '' standalone). */
  basePath: string;
  deliverWebhook: DeliverCallback | undefined;
}

/** Index accounts by phone-number id (accounts without one are skipped). */
export function indexAccounts(accounts: ReadonlyArray<WhatsAppAccount>): AccountIndex<WhatsAppSettings> {
  return new AccountIndex<WhatsAppSettings>((account) => account.settings?.phoneNumberId, accounts);
}

/** Whoever presented a valid token: the phone numbers that token may act for. */
export interface Principal {
  phoneNumberIds: ReadonlySet<string>;
}

/**
 * Resolve the bearer token (or Graph's `access_token` query parameter, unless `headerOnly`)
 * to the phone numbers it owns; null when missing or unknown. One token may own several numbers,
 * as a Meta system-user token does.
 */
export function authenticate(state: FakeState, request: Request, headerOnly = false): Principal | null {
  const token = requestToken(request, headerOnly ? {} : { query: 'access_token' });
  const phoneNumberIds = tokenOwners(token, state.accounts.entries(), (account) => account.settings.accessToken);
  return phoneNumberIds.size > 0 ? { phoneNumberIds } : null;
}

const GRAPH_JSON = 'application/json; charset=UTF-8';

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
  return jsonAnswer({ error: { ...error, fbtrace_id: fbtraceId() } }, { status, contentType: GRAPH_JSON, headers });
}

/** Answer a Graph success body with Graph's content type. */
export function graphJson(body: unknown, status = 200): Response {
  return jsonAnswer(body, { status, contentType: GRAPH_JSON });
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
