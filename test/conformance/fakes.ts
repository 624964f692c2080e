/**
 * Test doubles for adapters: HTTP clients (one backed by global fetch that honours
 * `trustedHosts` and `credentialHeaders`, one scripted), a silent logger, in-memory shared
 * state, and the garbage bodies the conformance suite feeds past verification.
 */
import { pino } from 'pino';
import type { SharedState } from '../../src/core/adapter.ts';
import { HttpClientError, type HttpClient, type HttpRequestOptions, type HttpResponse } from '../../src/core/http-client.ts';
import type { Logger } from '../../src/core/logger.ts';

/** One request an HTTP fake saw, with the headers it actually sent. */
export interface RecordedRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
}

/** An HttpClient that records its requests. */
export interface RecordingHttpClient extends HttpClient {
  readonly requests: RecordedRequest[];
}

/** A logger that writes nothing. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** SharedState kept in a Map, with the compare-and-set semantics of the real one. */
export function memorySharedState(): SharedState {
  const values = new Map<string, { value: string; revision: number }>();
  return {
    get: async (key) => values.get(key) ?? null,
    put: async (key, value, revision) => {
      const current = values.get(key)?.revision ?? 0;
      if (current !== revision) return false;
      values.set(key, { value, revision: current + 1 });
      return true;
    },
  };
}

/** `example.com` matches itself, `.example.com` its subdomains (the HttpClient contract). */
export function hostAllowed(host: string, trustedHosts: ReadonlyArray<string> | undefined): boolean {
  if (trustedHosts === undefined) return true;
  return trustedHosts.some((entry) => (entry.startsWith('.') ? host.endsWith(entry) && host.length > entry.length : host === entry));
}

/** Wraps a fetch Response in the HttpResponse interface, enforcing `maxBytes` while streaming. */
export function toHttpResponse(response: Response, url: string, maxBytes = Number.POSITIVE_INFINITY): HttpResponse {
  let consumed = false;
  const stream = (): AsyncIterable<Uint8Array> => {
    if (consumed) throw new Error('response body already read');
    consumed = true;
    const body = response.body;
    return (async function* () {
      if (body === null) return;
      let total = 0;
      for await (const chunk of body) {
        total += chunk.byteLength;
        if (total > maxBytes) throw new HttpClientError('too_large', `body exceeds ${maxBytes} bytes`);
        yield chunk;
      }
    })();
  };
  const bytes = async () => {
    const chunks: Uint8Array[] = [];
    for await (const chunk of stream()) chunks.push(chunk);
    return new Uint8Array(Buffer.concat(chunks));
  };
  const text = async () => new TextDecoder().decode(await bytes());
  return { status: response.status, headers: response.headers, url, stream, bytes, text, json: async <T>() => JSON.parse(await text()) as T };
}

/**
 * A small HttpClient over global fetch for unit tests: refuses hosts outside `trustedHosts`,
 * attaches `credentialHeaders` only to trusted hosts, never follows redirects.
 */
export function fetchHttpClient(): RecordingHttpClient {
  const requests: RecordedRequest[] = [];
  return {
    requests,
    async request(url: string, options: HttpRequestOptions = {}) {
      const target = new URL(url);
      if (!hostAllowed(target.hostname, options.trustedHosts)) throw new HttpClientError('untrusted_host', 'host not trusted');
      const headers: Record<string, string> = { ...options.headers, ...(options.trustedHosts !== undefined ? options.credentialHeaders : {}) };
      const method = options.method ?? 'GET';
      requests.push({ url, method, headers });
      let response: Response;
      try {
        response = await fetch(url, { method, headers, redirect: 'manual', ...(options.signal ? { signal: options.signal } : {}) });
      } catch (error) {
        throw new HttpClientError('network', 'request failed', { cause: error });
      }
      return toHttpResponse(response, url, options.maxBytes);
    },
  };
}

/** An HttpClient whose answers a test scripts: a Response, or an HttpClientError to throw. */
export function scriptedHttpClient(answer: (url: string, options: HttpRequestOptions) => Response | HttpClientError): RecordingHttpClient {
  const requests: RecordedRequest[] = [];
  return {
    requests,
    async request(url: string, options: HttpRequestOptions = {}) {
      const trusted = options.trustedHosts === undefined || hostAllowed(new URL(url).hostname, options.trustedHosts);
      requests.push({ url, method: options.method ?? 'GET', headers: { ...options.headers, ...(trusted ? options.credentialHeaders : {}) } });
      const result = answer(url, options);
      if (result instanceof HttpClientError) throw result;
      return toHttpResponse(result, url, options.maxBytes);
    },
  };
}

/** An HttpClient that must not be called: verify and parse never do network I/O. */
export function refusingHttpClient(): RecordingHttpClient {
  return scriptedHttpClient(() => new HttpClientError('network', 'no network in this test'));
}

/** A named body that is correctly authenticated but not a valid webhook. */
export interface GarbageBody {
  name: string;
  body: Uint8Array;
}

const utf8 = new TextEncoder();

/** Bodies no platform sends: random bytes, broken and hostile JSON, XML, huge nesting. */
export function garbageBodies(validPlaintexts: Uint8Array[]): GarbageBody[] {
  const text = (name: string, value: string): GarbageBody => ({ name, body: utf8.encode(value) });
  const random = mulberry32(0x0c0ffee);
  const randomBytes = (size: number) => Uint8Array.from({ length: size }, () => Math.floor(random() * 256));
  const list: GarbageBody[] = [
    text('empty', ''),
    text('{}', '{}'),
    text('[]', '[]'),
    text('null', 'null'),
    text('number', '42'),
    text('string', '"hello"'),
    text('boolean', 'true'),
    text('whitespace', ' \n\t '),
    text('xml', '<xml><ToUserName>a</ToUserName></xml>'),
    text('nul bytes', '\0\0\0'),
    text('lone surrogate', '{"a":"\\ud800"}'),
    text('huge exponent', '{"a":1e999999}'),
    text('deep arrays', `${'['.repeat(100_000)}${']'.repeat(100_000)}`),
    text('deep objects', `${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}`),
    text('unclosed nesting', '['.repeat(100_000)),
    text('proto keys', '{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"object":"x","entry":[]}'),
    { name: 'invalid utf-8', body: Uint8Array.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]) },
    { name: 'random 1 byte', body: randomBytes(1) },
    { name: 'random 64 bytes', body: randomBytes(64) },
    { name: 'random 4 KiB', body: randomBytes(4096) },
  ];
  validPlaintexts.forEach((plain, index) => {
    // Trailing whitespace first, or "minus the last byte" would only drop a newline.
    let end = plain.length;
    while (end > 0 && [0x20, 0x0a, 0x0d, 0x09].includes(plain[end - 1]!)) end--;
    list.push({ name: `valid #${index} truncated to half`, body: plain.slice(0, Math.floor(end / 2)) });
    list.push({ name: `valid #${index} minus its last byte`, body: plain.slice(0, end - 1) });
  });
  return list;
}

/** Every variant of a JSON document with one value replaced by a wrong-typed one. */
export function typeConfusedVariants(document: unknown): Array<{ path: string; value: unknown }> {
  const replacements: unknown[] = [null, [], {}, 0, -1, '', true, 'x'.repeat(5000)];
  const variants: Array<{ path: string; value: unknown }> = [];
  const visit = (node: unknown, path: Array<string | number>) => {
    if (typeof node !== 'object' || node === null) return;
    for (const key of Array.isArray(node) ? node.keys() : Object.keys(node)) {
      const child = (node as Record<string | number, unknown>)[key];
      for (const replacement of replacements) {
        variants.push({ path: [...path, key].join('.'), value: replaceAt(document, [...path, key], replacement) });
      }
      visit(child, [...path, key]);
    }
  };
  visit(document, []);
  return variants;
}

function replaceAt(node: unknown, path: Array<string | number>, value: unknown): unknown {
  if (path.length === 0) return value;
  const [head, ...rest] = path;
  if (Array.isArray(node)) return node.map((item, index) => (index === head ? replaceAt(item, rest, value) : item));
  const record = node as Record<string, unknown>;
  return Object.fromEntries(Object.keys(record).map((key) => [key, key === head ? replaceAt(record[key], rest, value) : record[key]]));
}

/**
 * Variants of a JSON document with one container value (object or array) replaced by arrays
 * nested `depth` deep: built as text, since serialising such a value would overflow the stack.
 */
export function deeplyNestedVariants(document: unknown, depth = 50_000, limit = 12): Array<{ path: string; text: string }> {
  const placeholder = '\u0000deep\u0000';
  const deep = `${'['.repeat(depth)}${']'.repeat(depth)}`;
  const variants: Array<{ path: string; text: string }> = [];
  const visit = (node: unknown, path: Array<string | number>) => {
    if (typeof node !== 'object' || node === null || variants.length >= limit) return;
    if (path.length > 0) {
      const text = JSON.stringify(replaceAt(document, path, placeholder)).replace(JSON.stringify(placeholder), deep);
      variants.push({ path: path.join('.'), text });
    }
    for (const key of Array.isArray(node) ? node.keys() : Object.keys(node)) visit((node as Record<string | number, unknown>)[key], [...path, key]);
  };
  visit(document, []);
  return variants;
}

/** The JSON text of `value` with `"__proto__":{"polluted":"yes"}` as the first key of every object. */
export function withProtoKeys(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(withProtoKeys).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const members = Object.entries(value).map(([key, item]) => `${JSON.stringify(key)}:${withProtoKeys(item)}`);
    return `{${['"__proto__":{"polluted":"yes"}', '"constructor":{"prototype":{"polluted":"yes"}}', ...members].join(',')}}`;
  }
  return JSON.stringify(value);
}

/** A small seeded PRNG so random inputs are the same on every run. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
