/**
 * Reads a response body as decoded bytes with a hard cap. Servers may compress even when asked
 * not to, so decoding happens here (streaming, bounded buffers) and the cap counts what comes
 * OUT of the decoder: a 1 KB gzip bomb stops at the cap, not at 1 GB.
 */
import type { IncomingMessage } from 'node:http';
import { pipeline, type Readable, type Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { HttpClientError } from './http-types.ts';

/** The `Accept-Encoding` the client sends: everything it can decode itself. */
export const ACCEPT_ENCODING = 'gzip, deflate, br';

// More layers than this is not a real server, and each layer is one more decoder to run.
const MAX_ENCODING_LAYERS = 2;

/** Decoders for a `Content-Encoding` header, in the order the body must pass through them. */
export function decodersFor(contentEncoding: string | undefined): Transform[] {
  if (!contentEncoding) return [];
  const codings = contentEncoding
    .split(',')
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== '' && coding !== 'identity');
  if (codings.length > MAX_ENCODING_LAYERS) {
    throw new HttpClientError('network', `too many content encodings (${codings.length})`);
  }
  // Encodings are listed in the order they were applied; undo them last-first.
  return codings.reverse().map((coding) => {
    switch (coding) {
      case 'gzip':
      case 'x-gzip':
        return createGunzip();
      case 'deflate':
        return createInflate();
      case 'br':
        return createBrotliDecompress();
      default:
        throw new HttpClientError('network', `unsupported content encoding ${coding}`);
    }
  });
}

/**
 * Yields decoded chunks, throwing `too_large` past `maxBytes`. `mapError` turns stream failures
 * (socket reset, our own abort, a corrupt gzip) into the client's errors; `done` runs exactly once.
 */
export async function* readCappedBody(
  response: IncomingMessage,
  decoders: Transform[],
  maxBytes: number,
  mapError: (error: unknown) => Error,
  done: () => void,
): AsyncGenerator<Uint8Array> {
  const source: Readable =
    decoders.length === 0 ? response : (pipeline([response, ...decoders], () => {}) as unknown as Readable);
  let received = 0;
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      received += chunk.byteLength;
      if (received > maxBytes) {
        throw new HttpClientError('too_large', `response body exceeds ${maxBytes} bytes`);
      }
      yield chunk;
    }
    // A socket that closes mid-body ends the stream without an error on some Node versions.
    if (!response.complete) throw new Error('response ended before the whole body arrived');
  } catch (error) {
    throw error instanceof HttpClientError ? error : mapError(error);
  } finally {
    // Stops the download at once, whether we hit the cap, failed or the caller stopped reading.
    if (!response.complete || received > maxBytes) response.destroy();
    for (const decoder of decoders) decoder.destroy();
    done();
  }
}
