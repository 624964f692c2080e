/**
 * The Graph API calls of the adapter: media lookup, media download, the credential check,
 * and for outbound the message send and media upload. The access token is only ever sent as a credential header to hosts the
 * caller trusts, and every failure becomes an OmniError with a contract code and, where a
 * config field is at fault, `details.field`.
 */
import { OmniError, type ErrorCode } from '../../core/errors.ts';
import { platformTransportFailure, type HttpClient, type HttpResponse } from '../../core/http-client.ts';

/** What the Graph client needs from the account. */
export interface GraphClientOptions {
  http: HttpClient;
  /** `https://graph.facebook.com`, or an operator's override (sandbox, proxy). */
  apiBase: string;
  apiVersion: string;
  accessToken: string;
}

/** Step 1 of a media download: where the bytes are and what Meta says they are. */
export interface MediaLocation {
  url: string;
  mimeType?: string;
  sha256?: string;
  size?: number;
}

/** Which call failed, so a platform error maps to the config field or the attachment at fault. */
type Purpose = 'media' | 'credentials' | 'send' | 'catalog';

/** Graph error codes (reference 1.6) that mean "slow down". */
const RATE_LIMIT_CODES = new Set([4, 17, 32, 613, 80007, 130429, 131056]);
const SMALL_BODY_BYTES = 64 * 1024;
// One catalog page: up to 100 templates with their components.
const CATALOG_PAGE_BYTES = 8 * 1024 * 1024;
// Uploads may be 100 MB: give them the time a slow uplink needs, not the 15 s default.
const UPLOAD_TIMEOUT_MS = 300_000;

/** A small Graph API client bound to one account's token and API base. */
export class GraphClient {
  readonly #options: GraphClientOptions;
  /** Host of the API base; the only host that sees the token for Graph calls. */
  readonly apiHost: string;
  /** Scheme of the API base (`http:` only for a local sandbox or test server). */
  readonly apiProtocol: string;

  constructor(options: GraphClientOptions) {
    this.#options = options;
    const base = new URL(options.apiBase);
    this.apiHost = base.hostname.toLowerCase();
    this.apiProtocol = base.protocol;
  }

  /** `GET /{version}/{mediaId}?phone_number_id=…`: the short-lived download URL of a media id. */
  async lookupMedia(mediaId: string, phoneNumberId: string, signal?: AbortSignal): Promise<MediaLocation> {
    const response = await this.#get(this.#url(mediaId, { phone_number_id: phoneNumberId }), 'media', {
      trustedHosts: [this.apiHost],
      maxBytes: SMALL_BODY_BYTES,
      signal,
    });
    if (response.status !== 200) throw await rejection(response, 'media');
    const body = await readJson(response, 'media');
    if (typeof body?.url !== 'string') throw new OmniError('attachment_unreachable', 'WhatsApp media lookup returned no URL');
    const location: MediaLocation = { url: body.url };
    if (typeof body.mime_type === 'string') location.mimeType = body.mime_type;
    if (typeof body.sha256 === 'string') location.sha256 = body.sha256;
    const size = Number(body.file_size);
    if (Number.isSafeInteger(size) && size >= 0) location.size = size;
    return location;
  }

  /**
   * `GET <url>` with the same bearer token (Meta requires it on the CDN too). The caller has
   * already checked the URL's host; `trustedHosts` makes the HTTP client hold every redirect
   * to the same list. Non-2xx answers are returned for the caller to decide (404 → refresh).
   */
  async download(url: string, trustedHosts: ReadonlyArray<string>, maxBytes: number, signal?: AbortSignal): Promise<HttpResponse> {
    return this.#get(url, 'media', { trustedHosts, maxBytes, signal, timeoutMs: 120_000 });
  }

  /** `GET /{version}/{phoneNumberId}?fields=id`: proves the token can reach this number. */
  async checkCredentials(phoneNumberId: string, signal?: AbortSignal): Promise<void> {
    const response = await this.#get(this.#url(phoneNumberId, { fields: 'id' }), 'credentials', {
      trustedHosts: [this.apiHost],
      maxBytes: SMALL_BODY_BYTES,
      signal,
    });
    if (response.status !== 200) throw await rejection(response, 'credentials');
    const body = await readJson(response, 'credentials');
    if (body?.id !== undefined && String(body.id) !== phoneNumberId) {
      throw new OmniError('channel_rejected', 'WhatsApp answered for another phone number id', { details: { field: 'phoneNumberId' } });
    }
  }

  /**
   * `POST /{version}/{phoneNumberId}/messages` with a JSON body. Any HTTP answer is returned
   * for the caller to map (`outbound-errors.ts`); transport failures become OmniErrors.
   */
  async postMessage(phoneNumberId: string, body: Record<string, unknown>, signal?: AbortSignal): Promise<HttpResponse> {
    return this.#post(this.#url(`${phoneNumberId}/messages`, {}), JSON.stringify(body), { 'content-type': 'application/json' }, signal);
  }

  /**
   * `POST /{version}/{phoneNumberId}/media` as multipart (`messaging_product`, `file`, `type`),
   * reference 1.5. Returned like `postMessage`; a 200 carries `{ id }`.
   */
  async uploadMedia(phoneNumberId: string, file: { bytes: Uint8Array; mime: string; filename: string }, signal?: AbortSignal): Promise<HttpResponse> {
    const form = new FormData();
    form.append('messaging_product', 'whatsapp');
    form.append('file', new Blob([file.bytes], { type: file.mime }), file.filename);
    form.append('type', file.mime);
    return this.#post(this.#url(`${phoneNumberId}/media`, {}), form, {}, signal, UPLOAD_TIMEOUT_MS);
  }

  /**
   * `GET /{version}/{path}?…` of a management call (the template catalog pages, reference 1.6);
   * a non-200 answer becomes an OmniError naming `wabaId` or `accessToken` where one is at fault.
   */
  async getJson(path: string, query: Record<string, string>, signal?: AbortSignal): Promise<Record<string, unknown>> {
    const response = await this.#get(this.#url(path, query), 'catalog', { trustedHosts: [this.apiHost], maxBytes: CATALOG_PAGE_BYTES, signal });
    if (response.status !== 200) throw await rejection(response, 'catalog');
    const body = await readJson(response, 'catalog');
    if (body === undefined) throw new OmniError('channel_unavailable', 'WhatsApp answered the catalog request with something other than JSON');
    return body;
  }

  /** Rejects a failed response the same way the built-in calls do. */
  rejection(response: HttpResponse, purpose: Purpose): Promise<OmniError> {
    return rejection(response, purpose);
  }

  #url(path: string, query: Record<string, string>): string {
    const encoded = path.split('/').map(encodeURIComponent).join('/');
    const url = new URL(`${this.#options.apiBase.replace(/\/+$/, '')}/${this.#options.apiVersion}/${encoded}`);
    for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
    return url.toString();
  }

  async #post(url: string, body: string | FormData, headers: Record<string, string>, signal: AbortSignal | undefined, timeoutMs?: number): Promise<HttpResponse> {
    try {
      return await this.#options.http.request(url, {
        method: 'POST',
        headers,
        body,
        trustedHosts: [this.apiHost],
        credentialHeaders: { authorization: `Bearer ${this.#options.accessToken}` },
        maxBytes: SMALL_BODY_BYTES,
        // A redirected POST could replay the message elsewhere; Graph never redirects sends.
        maxRedirects: 0,
        ...(signal !== undefined ? { signal } : {}),
        ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      });
    } catch (error) {
      throw transportFailure(error, 'send');
    }
  }

  async #get(
    url: string,
    purpose: Purpose,
    options: { trustedHosts: ReadonlyArray<string>; maxBytes: number; signal?: AbortSignal | undefined; timeoutMs?: number },
  ): Promise<HttpResponse> {
    try {
      return await this.#options.http.request(url, {
        method: 'GET',
        trustedHosts: options.trustedHosts,
        credentialHeaders: { authorization: `Bearer ${this.#options.accessToken}` },
        maxBytes: options.maxBytes,
        ...(options.signal !== undefined ? { signal: options.signal } : {}),
        ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      });
    } catch (error) {
      throw transportFailure(error, purpose);
    }
  }
}

/** Maps a transport failure to a contract code (shared rules in the core); an abort passes through. */
export function transportFailure(error: unknown, purpose: Purpose): unknown {
  return platformTransportFailure(error, 'WhatsApp', purpose);
}

/** Maps a non-2xx Graph answer to a contract code, naming the config field where one is at fault. */
async function rejection(response: HttpResponse, purpose: Purpose): Promise<OmniError> {
  const body = await readJson(response, purpose);
  const error = body !== undefined && typeof body.error === 'object' && body.error !== null ? (body.error as Record<string, unknown>) : {};
  const platformCode = typeof error.code === 'number' ? error.code : undefined;
  const details: Record<string, unknown> = { status: response.status };
  if (platformCode !== undefined) details.platformCode = platformCode;
  if (typeof error.fbtrace_id === 'string') details.fbtraceId = error.fbtrace_id;
  const fail = (code: ErrorCode, message: string, field?: string) =>
    new OmniError(code, message, { details: field === undefined ? details : { ...details, field } });

  if (response.status === 401 || platformCode === 190) return fail('channel_rejected', 'WhatsApp rejected the access token', 'accessToken');
  if (response.status === 429 || (platformCode !== undefined && RATE_LIMIT_CODES.has(platformCode))) {
    return fail('rate_limited', 'WhatsApp rate limit hit');
  }
  if (response.status >= 500) return fail('channel_unavailable', 'WhatsApp API failed');
  // Codes 10 and 200-299 are permission errors: the token lacks access to this number or asset.
  const permission = platformCode === 10 || (platformCode !== undefined && platformCode >= 200 && platformCode < 300);
  if (purpose === 'credentials') {
    if (permission) return fail('channel_rejected', 'WhatsApp access token lacks permission for this phone number', 'accessToken');
    if (response.status === 404 || platformCode === 100) return fail('channel_rejected', 'WhatsApp does not know this phone number id', 'phoneNumberId');
    return fail('channel_rejected', 'WhatsApp refused the credential check');
  }
  if (purpose === 'catalog') {
    if (permission || response.status === 403) return fail('channel_rejected', 'WhatsApp access token lacks permission for the template catalog (whatsapp_business_management)', 'accessToken');
    return fail('channel_rejected', 'WhatsApp refused the template catalog request', 'wabaId');
  }
  if (permission || response.status === 403) return fail('channel_rejected', 'WhatsApp access token lacks permission for this media', 'accessToken');
  return fail('attachment_unreachable', 'WhatsApp media not found or expired');
}

/** A small JSON body, or undefined when the platform answered something else (an HTML error page). */
async function readJson(response: HttpResponse, purpose: Purpose): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await response.text();
  } catch (error) {
    throw transportFailure(error, purpose);
  }
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    // Not JSON: the status code alone decides, which every caller handles.
    return undefined;
  }
}
