/**
 * Reads a request body as raw bytes under a byte cap, before anything parses it: the cap is
 * checked against Content-Length first, then counted while streaming (chunked bodies), so an
 * oversized body is refused without being buffered.
 */
import type { IncomingMessage } from 'node:http';

/** The body was larger than allowed (answer 413). */
export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`request body exceeds ${limit} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

/** Reads the raw body from Node's request when present, otherwise from the fetch Request. */
export async function readRawBody(request: Request, incoming: IncomingMessage | undefined, limit: number): Promise<Uint8Array> {
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > limit) throw new BodyTooLargeError(limit);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const push = (chunk: Uint8Array) => {
    total += chunk.byteLength;
    if (total > limit) throw new BodyTooLargeError(limit);
    chunks.push(chunk);
  };
  if (incoming && !incoming.readableEnded && incoming.readable) {
    await readIncoming(incoming, push);
  } else if (request.body) {
    const reader = request.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        push(value);
      }
    } catch (error) {
      await reader.cancel().catch(() => {});
      throw error;
    }
  }
  if (chunks.length === 1) return chunks[0]!;
  const body = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

/**
 * Reads Node's request with listeners rather than `for await`: leaving a `for await` early
 * destroys the request and with it the socket, so the 413 would never reach the client. Past
 * the cap it only pauses; the server drains what is left (bounded) once the answer is sent.
 */
function readIncoming(incoming: IncomingMessage, push: (chunk: Uint8Array) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const cleanup = () => {
      incoming.off('data', onData);
      incoming.off('end', onEnd);
      incoming.off('error', onError);
      incoming.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      try {
        push(chunk);
      } catch (error) {
        cleanup();
        incoming.pause();
        reject(error);
      }
    };
    const onEnd = () => {
      cleanup();
      resolve();
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const onClose = () => {
      cleanup();
      reject(new Error('the client closed the connection before the body ended'));
    };
    incoming.on('data', onData);
    incoming.once('end', onEnd);
    incoming.once('error', onError);
    incoming.once('close', onClose);
  });
}
