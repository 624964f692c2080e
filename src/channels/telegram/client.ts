/**
 * The Bot API calls of the adapter. The bot token sits in every URL path
 * (`/bot<token>/<method>`, `/file/bot<token>/<path>`), so this client is the only place that
 * builds those URLs, sends them only to the configured API host, never follows a redirect, and
 * scrubs the token from every error it lets out, including the HTTP client's own.
 */
import { HttpClientError, platformTransportFailure, type HttpClient, type HttpResponse } from '../../core/http-client.ts';

/** What the client needs from the account. */
export interface BotClientOptions {
  http: HttpClient;
  /** `https://api.telegram.org`, a local Bot API server, or the sandbox. */
  apiBase: string;
  botToken: string;
}

/** Which call failed, so a failure maps to the config field or the attachment at fault. */
export type Purpose = 'send' | 'credentials' | 'media' | 'poll' | 'webhook' | 'callback';

/** A Bot API answer: `{ ok: true, result }`, or Telegram's error with what it said. */
export type BotApiAnswer =
  | { ok: true; result: unknown; status: number }
  | {
      ok: false;
      status: number;
      /** Telegram's `error_code` (usually the HTTP status). */
      errorCode?: number;
      /** Telegram's `description`, token scrubbed, cut to 300 characters. */
      description?: string;
      /** `parameters.retry_after` (seconds) and `parameters.migrate_to_chat_id`. */
      retryAfter?: number;
      migrateToChatId?: number;
      /** The HTTP `Retry-After` header, for proxies that answer 429 without Telegram's body. */
      retryAfterHeader?: string;
    };

/** Options of one call. */
export interface CallOptions {
  purpose: Purpose;
  signal?: AbortSignal | undefined;
  timeoutMs?: number;
  maxBytes?: number;
}

const SMALL_BODY_BYTES = 256 * 1024;
const MAX_DESCRIPTION = 300;

/** A small Bot API client bound to one bot token and API base. */
export class BotClient {
  readonly #options: BotClientOptions;
  readonly #secrets: string[];
  /** Host of the API base: the only host that ever sees the token. */
  readonly apiHost: string;

  constructor(options: BotClientOptions) {
    this.#options = { ...options, apiBase: options.apiBase.replace(/\/+$/, '') };
    this.apiHost = new URL(this.#options.apiBase).hostname.toLowerCase();
    const token = options.botToken;
    const secretPart = token.slice(token.indexOf(':') + 1);
    // The whole token, its URL-encoded form, and the part after the colon on its own.
    this.#secrets = [...new Set([token, encodeURIComponent(token), secretPart])].filter((s) => s.length >= 8).sort((a, b) => b.length - a.length);
  }

  /** Removes the token from any text (a proxy's echo, a stack of errors). */
  redact(text: string): string {
    let clean = text;
    for (const secret of this.#secrets) clean = clean.split(secret).join('[redacted]');
    return clean;
  }

  /**
   * `POST /bot<token>/<method>` with a JSON body or a multipart form. Telegram's `ok: false`
   * answers are returned for the caller to map; transport failures become OmniErrors without
   * the token in them.
   */
  async call(method: string, params: Record<string, unknown> | FormData, options: CallOptions): Promise<BotApiAnswer> {
    const url = `${this.#options.apiBase}/bot${this.#options.botToken}/${encodeURIComponent(method)}`;
    const isForm = params instanceof FormData;
    let response: HttpResponse;
    try {
      response = await this.#options.http.request(url, {
        method: 'POST',
        headers: isForm ? {} : { 'content-type': 'application/json' },
        body: isForm ? params : JSON.stringify(params),
        trustedHosts: [this.apiHost],
        // A redirect would carry the request (and with it the message) somewhere else.
        maxRedirects: 0,
        maxBytes: options.maxBytes ?? SMALL_BODY_BYTES,
        ...(options.signal !== undefined ? { signal: options.signal } : {}),
        ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      });
    } catch (error) {
      throw this.transportFailure(error, options.purpose);
    }
    return this.#readAnswer(response, options.purpose);
  }

  /**
   * `GET /file/bot<token>/<file_path>`: the bytes of a file getFile located. Non-2xx answers
   * are returned for the caller; the response's `url` holds the token and must not be shown.
   */
  async download(filePath: string, maxBytes: number, signal?: AbortSignal): Promise<HttpResponse> {
    const encoded = filePath.split('/').map(encodeURIComponent).join('/');
    try {
      return await this.#options.http.request(`${this.#options.apiBase}/file/bot${this.#options.botToken}/${encoded}`, {
        method: 'GET',
        trustedHosts: [this.apiHost],
        maxRedirects: 0,
        maxBytes,
        timeoutMs: 120_000,
        ...(signal !== undefined ? { signal } : {}),
      });
    } catch (error) {
      throw this.transportFailure(error, 'media');
    }
  }

  /** A transport failure as an OmniError with a contract code, its messages scrubbed of the token. */
  transportFailure(error: unknown, purpose: Purpose): unknown {
    return platformTransportFailure(this.scrubError(error), 'Telegram', purpose);
  }

  /** Rebuilds an error so neither its message nor its causes can carry the token. */
  scrubError(error: unknown): unknown {
    if (error instanceof HttpClientError) {
      // An abort's cause is the caller's own reason, kept so the caller recognises it.
      const cause = error.reason === 'aborted' ? error.cause : undefined;
      return new HttpClientError(error.reason, this.redact(error.message), cause === undefined ? undefined : { cause });
    }
    if (error instanceof Error) {
      if (error.name === 'AbortError' || error.name === 'TimeoutError') return error;
      const clean = new Error(this.redact(error.message));
      clean.name = error.name;
      return clean;
    }
    return new Error('Telegram request failed');
  }

  async #readAnswer(response: HttpResponse, purpose: Purpose): Promise<BotApiAnswer> {
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      throw this.transportFailure(error, purpose);
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined; // an HTML error page of a proxy: the status alone decides
    }
    const record = isRecord(body) ? body : {};
    if (record.ok === true && response.status >= 200 && response.status < 300) return { ok: true, result: record.result, status: response.status };
    const answer: BotApiAnswer = { ok: false, status: response.status };
    if (typeof record.error_code === 'number') answer.errorCode = record.error_code;
    if (typeof record.description === 'string') {
      const clean = this.redact(record.description);
      answer.description = clean.length > MAX_DESCRIPTION ? `${clean.slice(0, MAX_DESCRIPTION)}…` : clean;
    }
    const parameters = isRecord(record.parameters) ? record.parameters : {};
    if (typeof parameters.retry_after === 'number' && Number.isFinite(parameters.retry_after)) answer.retryAfter = parameters.retry_after;
    if (typeof parameters.migrate_to_chat_id === 'number' && Number.isSafeInteger(parameters.migrate_to_chat_id)) {
      answer.migrateToChatId = parameters.migrate_to_chat_id;
    }
    const header = response.headers.get('retry-after');
    if (header !== null) answer.retryAfterHeader = header;
    return answer;
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
