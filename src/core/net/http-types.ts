/**
 * The shapes of the guarded HTTP client (requests, responses, failures), apart from the client
 * itself so the helpers under net/ and the client both depend on them and not on each other.
 */

/** Options for one request. */
export interface HttpRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array | FormData;
  /** Abort after this many milliseconds (default 15 000). */
  timeoutMs?: number;
  /** Abort once more than this many (decoded) bytes arrive; 0 = no body expected (default 10 MiB). */
  maxBytes?: number;
  signal?: AbortSignal;
  /**
   * Hosts this request may reach, including after redirects. An entry `example.com` matches
   * that host; `.example.com` matches its subdomains. Hosts listed here may be loopback or
   * private (an operator's explicit `apiBase`); every other host must resolve to public addresses.
   * Absent = any public host (attachments fetched from a user's URL).
   */
  trustedHosts?: ReadonlyArray<string>;
  /** Follow at most this many redirects (default 3); each hop is checked again. */
  maxRedirects?: number;
  /**
   * Headers sent only while the URL's host is in `trustedHosts` (e.g. `Authorization`):
   * dropped on any redirect to another host, so a credential never leaves the platform.
   */
  credentialHeaders?: Record<string, string>;
}

/** A response whose body is read lazily, capped by `maxBytes`. */
export interface HttpResponse {
  status: number;
  headers: Headers;
  /** The final URL after redirects. */
  url: string;
  /** Stream the body; throws HttpClientError('too_large') past the cap. */
  stream(): AsyncIterable<Uint8Array>;
  bytes(): Promise<Uint8Array>;
  text(): Promise<string>;
  json<T = unknown>(): Promise<T>;
}

/** Why a request failed before or while reading: stable reasons, never secrets in the message. */
export type HttpFailure =
  | 'blocked_address'
  | 'blocked_scheme'
  | 'untrusted_host'
  | 'too_many_redirects'
  | 'timeout'
  | 'too_large'
  | 'network'
  /** The URL (or a redirect's Location) is not a URL. */
  | 'invalid_url'
  /** The caller's `signal` fired; the error's `cause` is the signal's reason. */
  | 'aborted';

/** A request that failed for a reason the caller maps to a contract code. */
export class HttpClientError extends Error {
  readonly reason: HttpFailure;
  constructor(reason: HttpFailure, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HttpClientError';
    this.reason = reason;
  }
}

/** The guarded client. */
export interface HttpClient {
  request(url: string, options?: HttpRequestOptions): Promise<HttpResponse>;
}
