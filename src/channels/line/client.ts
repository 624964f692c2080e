/**
 * The LINE API calls of one channel: token issue, bot info, reply, push, content, profile and
 * quota. The bearer token is attached as a credential header for LINE's own hosts only (the API
 * host and the content host), so a redirect can never carry it elsewhere. A 401 replaces an
 * issued token once; what is left is mapped by `api-errors.ts`.
 */
import type { Clock } from '../../core/clock.ts';
import { OmniError } from '../../core/errors.ts';
import { platformTransportFailure, type HttpClient, type HttpResponse } from '../../core/http-client.ts';
import { lineError, readError, type Purpose } from './api-errors.ts';
import type { IssuedToken, TokenSource } from './token.ts';

/** What the client needs from the account. */
export interface LineClientOptions {
  http: HttpClient;
  /** `https://api.line.me`, or an operator's override (sandbox, proxy). */
  apiBase: string;
  /** `https://api-data.line.me`, or the override. */
  dataBase: string;
  tokens: TokenSource;
  clock: Clock;
}

/** One call: which host, what to send, what it is for. */
export interface CallOptions {
  host?: 'api' | 'data';
  method?: 'GET' | 'POST';
  json?: unknown;
  headers?: Record<string, string>;
  purpose: Purpose;
  signal?: AbortSignal | undefined;
  maxBytes?: number;
  timeoutMs?: number;
}

/** A user's profile as `/v2/bot/profile/{userId}` gives it. */
export interface LineProfile {
  displayName?: string;
  language?: string;
}

const SMALL_BODY_BYTES = 64 * 1024;

/** A LINE API client bound to one channel. */
export class LineClient {
  readonly #options: LineClientOptions;
  readonly #trusted: string[];

  constructor(options: LineClientOptions) {
    this.#options = options;
    this.#trusted = [...new Set([hostOf(options.apiBase), hostOf(options.dataBase)])];
  }

  get tokens(): TokenSource {
    return this.#options.tokens;
  }

  /** `POST /v2/oauth/accessToken`: a short-lived (30-day) token from channel id and secret. */
  async issueToken(channelId: string, channelSecret: string, signal?: AbortSignal): Promise<IssuedToken> {
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: channelId, client_secret: channelSecret });
    const response = await this.#send(`${this.#options.apiBase}/v2/oauth/accessToken`, 'token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form.toString(),
      signal,
    });
    const body = await this.#object(response, 'token', 'channelSecret');
    const token = body.access_token;
    const expiresIn = Number(body.expires_in);
    if (typeof token !== 'string' || token === '' || !Number.isFinite(expiresIn) || expiresIn <= 0) {
      throw new OmniError('channel_unavailable', 'LINE issued no access token');
    }
    return { token, expiresInSeconds: expiresIn };
  }

  /** A call with the bearer token; returns the response whatever its status (after one token refresh on 401). */
  async call(path: string, options: CallOptions): Promise<HttpResponse> {
    const base = options.host === 'data' ? this.#options.dataBase : this.#options.apiBase;
    let token = await this.tokens.current(options.signal);
    for (let attempt = 0; ; attempt++) {
      const response = await this.#send(`${base}${path}`, options.purpose, {
        method: options.method ?? (options.json === undefined ? 'GET' : 'POST'),
        headers: { ...(options.json !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers },
        credentialHeaders: { authorization: `Bearer ${token}` },
        ...(options.json !== undefined ? { body: JSON.stringify(options.json) } : {}),
        signal: options.signal,
        maxBytes: options.maxBytes ?? SMALL_BODY_BYTES,
        ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      });
      if (response.status !== 401 || attempt > 0) return response;
      const next = await this.tokens.replace(token, options.signal);
      if (next === token) return response;
      await response.text().catch(() => undefined);
      token = next;
    }
  }

  /** A JSON call that must succeed: the answer object, or the mapped OmniError. */
  async json(path: string, options: CallOptions): Promise<Record<string, unknown>> {
    return this.#object(await this.call(path, options), options.purpose, this.tokens.field);
  }

  /** `GET /v2/bot/info`: proves the token (and, for issued tokens, the channel id and secret). */
  async checkCredentials(signal?: AbortSignal): Promise<void> {
    await this.json('/v2/bot/info', { purpose: 'check', signal });
  }

  /** `GET /v2/bot/profile/{userId}`; null when LINE has no profile to give (404: no consent, blocked, not a friend). */
  async profile(userId: string, signal?: AbortSignal): Promise<LineProfile | null> {
    const response = await this.call(`/v2/bot/profile/${encodeURIComponent(userId)}`, { purpose: 'profile', signal });
    if (response.status === 404) {
      await response.text().catch(() => undefined);
      return null;
    }
    const body = await this.#object(response, 'profile', this.tokens.field);
    return {
      ...(typeof body.displayName === 'string' && body.displayName !== '' ? { displayName: body.displayName } : {}),
      ...(typeof body.language === 'string' ? { language: body.language } : {}),
    };
  }

  /** Reads a 2xx JSON object, or throws the mapped error for anything else. */
  async #object(response: HttpResponse, purpose: Purpose, field: string): Promise<Record<string, unknown>> {
    if (response.status < 200 || response.status > 299) throw lineError(await readError(response), purpose, field, this.#options.clock.now());
    let value: unknown;
    try {
      const text = await response.text();
      value = text.trim() === '' ? {} : JSON.parse(text);
    } catch (error) {
      if (error instanceof SyntaxError) throw new OmniError('channel_unavailable', 'LINE answered something that is not JSON', { details: { status: response.status } });
      throw transportFailure(error, purpose);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new OmniError('channel_unavailable', 'LINE answered JSON that is not an object');
    return value as Record<string, unknown>;
  }

  async #send(
    url: string,
    purpose: Purpose,
    init: { method: string; headers?: Record<string, string>; credentialHeaders?: Record<string, string>; body?: string; signal?: AbortSignal | undefined; maxBytes?: number; timeoutMs?: number },
  ): Promise<HttpResponse> {
    try {
      return await this.#options.http.request(url, {
        method: init.method,
        trustedHosts: this.#trusted,
        maxBytes: init.maxBytes ?? SMALL_BODY_BYTES,
        ...(init.headers !== undefined ? { headers: init.headers } : {}),
        ...(init.credentialHeaders !== undefined ? { credentialHeaders: init.credentialHeaders } : {}),
        ...(init.body !== undefined ? { body: init.body } : {}),
        ...(init.signal !== undefined ? { signal: init.signal } : {}),
        ...(init.timeoutMs !== undefined ? { timeoutMs: init.timeoutMs } : {}),
      });
    } catch (error) {
      throw transportFailure(error, purpose);
    }
  }
}

/** Maps a transport failure to a contract code (shared rules in the core); an abort passes through. */
export function transportFailure(error: unknown, purpose: Purpose): unknown {
  return platformTransportFailure(error, 'LINE', purpose);
}

function hostOf(base: string): string {
  return new URL(base).hostname.toLowerCase();
}
