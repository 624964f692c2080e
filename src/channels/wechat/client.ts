/**
 * The WeChat API calls this channel makes: stable token, customer-service send, temporary media
 * upload and download, user info. WeChat wants the access token in the query string, so every
 * URL built here holds a credential: only the API host ever sees one, and no URL reaches an
 * error or a log. Failures become OmniErrors with contract codes (`errcodes.ts`).
 */
import type { SharedState } from '../../core/adapter.ts';
import type { Clock } from '../../core/clock.ts';
import { OmniError } from '../../core/errors.ts';
import { platformTransportFailure, type HttpClient, type HttpResponse } from '../../core/http-client.ts';
import { TOKEN_ERRCODES, errcodeError, httpStatusError, type Purpose } from './errcodes.ts';
import type { TokenCache } from '../../core/adapter.ts';
import { wechatTokens, type FetchedToken } from './token.ts';

/** What the client needs from the account. */
export interface WeChatClientOptions {
  http: HttpClient;
  /** `https://api.weixin.qq.com`, or an operator's override (sandbox, proxy). */
  apiBase: string;
  appId: string;
  appSecret: string;
  shared: SharedState;
  clock: Clock;
}

/** One call to the API: JSON in and out, the token added and refreshed once if WeChat refuses it. */
interface CallOptions {
  method: 'GET' | 'POST';
  query?: Record<string, string>;
  json?: unknown;
  form?: FormData;
  purpose: Purpose;
  signal?: AbortSignal | undefined;
  timeoutMs?: number;
}

/** User facts from `/cgi-bin/user/info` (nickname and avatar are no longer returned). */
export interface WeChatUserInfo {
  subscribed: boolean;
  unionId?: string;
}

const SMALL_BODY_BYTES = 64 * 1024;

/** A WeChat API client bound to one account. */
export class WeChatClient {
  readonly #options: WeChatClientOptions;
  readonly tokens: TokenCache;
  /** Host of the API base: the only host that ever sees the access token or the AppSecret. */
  readonly apiHost: string;

  constructor(options: WeChatClientOptions) {
    this.#options = options;
    this.apiHost = new URL(options.apiBase).hostname.toLowerCase();
    this.tokens = wechatTokens({ shared: options.shared, clock: options.clock, fetch: (force, signal) => this.fetchStableToken(force, signal) });
  }

  /** `POST /cgi-bin/stable_token`; `force` invalidates the current token (only after a rejection). */
  async fetchStableToken(force: boolean, signal?: AbortSignal): Promise<FetchedToken> {
    const body = { grant_type: 'client_credential', appid: this.#options.appId, secret: this.#options.appSecret, force_refresh: force };
    const response = await this.#request(this.#url('/cgi-bin/stable_token', {}), 'token', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal,
    });
    const answer = await this.#json(response, 'token');
    const token = answer.access_token;
    const expiresIn = Number(answer.expires_in);
    if (typeof token !== 'string' || token === '' || !Number.isFinite(expiresIn) || expiresIn <= 0) {
      throw new OmniError('channel_unavailable', 'WeChat stable_token answered without a token');
    }
    return { token, expiresInSeconds: expiresIn };
  }

  /** Proves appId, appSecret and the IP allow-list by fetching a (non-forced) token, and shares it. */
  async checkCredentials(signal?: AbortSignal): Promise<void> {
    await this.tokens.store(await this.fetchStableToken(false, signal));
  }

  /** A JSON API call with the access token; 40001/42001 refresh the token and retry once. */
  async call(path: string, options: CallOptions): Promise<Record<string, unknown>> {
    let token = await this.tokens.current(options.signal);
    for (let attempt = 0; ; attempt++) {
      const response = await this.#request(this.#url(path, { ...options.query, access_token: token }), options.purpose, {
        method: options.method,
        ...(options.json !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(options.json) } : {}),
        ...(options.form !== undefined ? { body: options.form } : {}),
        signal: options.signal,
        ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      });
      try {
        return await this.#json(response, options.purpose);
      } catch (error) {
        const code = (error as OmniError).details?.platformCode;
        if (attempt > 0 || typeof code !== 'number' || !TOKEN_ERRCODES.has(code)) throw error;
        token = await this.tokens.replace(token, options.signal);
      }
    }
  }

  /**
   * `GET /cgi-bin/media/get`: the raw response, for the caller to sniff (errors come back as JSON
   * with HTTP 200). Token errors found by the caller are retried through `withFreshToken`.
   */
  async getMedia(mediaId: string, token: string, maxBytes: number, signal?: AbortSignal): Promise<HttpResponse> {
    return this.#request(this.#url('/cgi-bin/media/get', { access_token: token, media_id: mediaId }), 'media', {
      method: 'GET',
      signal,
      maxBytes,
      timeoutMs: 120_000,
    });
  }

  /** Downloads a URL WeChat handed out (a video's `video_url`): no token, public hosts only unless it is the API host. */
  async download(url: string, maxBytes: number, signal?: AbortSignal): Promise<HttpResponse> {
    const host = URL.canParse(url) ? new URL(url).hostname.toLowerCase() : '';
    try {
      return await this.#options.http.request(url, {
        method: 'GET',
        maxBytes,
        timeoutMs: 120_000,
        ...(host === this.apiHost ? { trustedHosts: [this.apiHost] } : {}),
        ...(signal !== undefined ? { signal } : {}),
      });
    } catch (error) {
      throw transportFailure(error, 'media');
    }
  }

  /** `GET /cgi-bin/user/info`: whether the user follows, and the UnionID when the account is bound. */
  async userInfo(openId: string, signal?: AbortSignal): Promise<WeChatUserInfo> {
    const answer = await this.call('/cgi-bin/user/info', { method: 'GET', query: { openid: openId, lang: 'zh_CN' }, purpose: 'user', signal });
    const info: WeChatUserInfo = { subscribed: answer.subscribe === 1 || answer.subscribe === '1' };
    if (typeof answer.unionid === 'string' && answer.unionid !== '') info.unionId = answer.unionid;
    return info;
  }

  /** Reads a JSON answer and throws for a non-2xx status or a non-zero `errcode`. */
  async #json(response: HttpResponse, purpose: Purpose): Promise<Record<string, unknown>> {
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      throw transportFailure(error, purpose);
    }
    const body = parseObject(text);
    const errcode = body === undefined ? undefined : Number(body.errcode ?? 0);
    if (body !== undefined && errcode !== undefined && Number.isInteger(errcode) && errcode !== 0) {
      throw errcodeError({ errcode, errmsg: typeof body.errmsg === 'string' ? body.errmsg : undefined }, purpose, this.#options.clock.now());
    }
    if (response.status < 200 || response.status > 299) throw httpStatusError(response.status, purpose);
    if (body === undefined) throw new OmniError('channel_unavailable', 'WeChat answered something that is not JSON', { details: { status: response.status } });
    return body;
  }

  async #request(
    url: string,
    purpose: Purpose,
    init: { method: string; headers?: Record<string, string>; body?: string | FormData; signal?: AbortSignal | undefined; maxBytes?: number; timeoutMs?: number },
  ): Promise<HttpResponse> {
    try {
      return await this.#options.http.request(url, {
        method: init.method,
        trustedHosts: [this.apiHost],
        maxBytes: init.maxBytes ?? SMALL_BODY_BYTES,
        ...(init.headers !== undefined ? { headers: init.headers } : {}),
        ...(init.body !== undefined ? { body: init.body } : {}),
        ...(init.signal !== undefined ? { signal: init.signal } : {}),
        ...(init.timeoutMs !== undefined ? { timeoutMs: init.timeoutMs } : {}),
      });
    } catch (error) {
      throw transportFailure(error, purpose);
    }
  }

  #url(path: string, query: Record<string, string>): string {
    const url = new URL(`${this.#options.apiBase.replace(/\/+$/, '')}${path}`);
    for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
    return url.toString();
  }
}

/** Maps a transport failure to a contract code (shared rules in the core); an abort passes through. */
export function transportFailure(error: unknown, purpose: Purpose): unknown {
  return platformTransportFailure(error, 'WeChat', purpose);
}

/** A JSON object, or undefined for anything else (an HTML error page, bytes). */
export function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
