/**
 * Outbound attachments, settled before a send is accepted: bytes fetched from a URL (through
 * the guarded HttpClient WITHOUT trusted hosts, so only public addresses, re-checked after
 * every redirect and DNS answer; capped; timed out; never with a platform credential), decoded
 * from base64, or taken from stored media. Typed from their bytes, checked against the
 * account's allowed types and the platform's per-type size limits, and stored, so the sender
 * reads them from the store and never fetches anything again.
 */
import { eq } from 'drizzle-orm';
import { HttpClientError, type HttpResponse } from '../core/http-client.ts';
import { OmniError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import type { MediaPartType } from '../core/model.ts';
import { media } from '../core/storage/schema.ts';
import { DETECTION_HEAD_BYTES, detectMediaType, isAllowedExt, type DetectedType } from '../core/media/detect.ts';
import { sanitizeFilename, type StoredMedia } from '../core/media/store.ts';
import type { AdapterEntry } from '../core/registry.ts';
import type { SendPart } from '../core/schemas/api.ts';
import type { OutboundDeps } from './deps.ts';

/** A media part's bytes, stored and typed; `fresh` media gets a media row on accept. */
export interface PreparedMedia {
  id: string;
  fresh: boolean;
  storageKey: string;
  sha256: string;
  size: number;
  mime: string;
  ext: string;
  filename?: string;
  origin: 'url' | 'base64' | 'stored';
}

type MediaSendPart = Extract<SendPart, { media: unknown }>;

/** The largest attachment of this part type on this account: platform, account and daemon limits. */
export function sizeCap(entry: AdapterEntry, type: MediaPartType, daemonMax: number): number {
  const platform = entry.adapter.capabilities.attachments.maxBytes[type] ?? Number.POSITIVE_INFINITY;
  const account = entry.account.attachments.maxBytes ?? Number.POSITIVE_INFINITY;
  return Math.min(platform, account, daemonMax);
}

/** Fetches, decodes or loads one attachment, types and checks it, and stores it. */
export async function prepareAttachment(deps: OutboundDeps, entry: AdapterEntry, part: MediaSendPart): Promise<PreparedMedia> {
  const cap = sizeCap(entry, part.type, deps.mediaMaxBytes());
  const filename = part.filename === undefined ? undefined : sanitizeFilename(part.filename);
  const source = part.media;
  if ('id' in source) return fromStored(deps, entry, part, source.id, cap, filename);
  const origin = 'url' in source ? 'url' : 'base64';
  const stored = 'url' in source ? await download(deps, source.url, cap, part.type) : await decode(deps, source.base64, cap, part.type);
  const type = checkType(entry, part.type, await detectMediaType(stored.head));
  // Bytes land in quarantine and become servable only once their type is known to be allowed.
  await deps.store.promote(stored.key);
  return {
    id: newId('med', deps.clock.now().getTime()),
    fresh: true,
    storageKey: stored.key,
    sha256: stored.sha256,
    size: stored.size,
    mime: type.mime,
    ext: type.ext,
    ...(filename !== undefined ? { filename } : {}),
    origin,
  };
}

async function download(deps: OutboundDeps, url: string, cap: number, type: MediaPartType): Promise<StoredMedia> {
  // Defence in depth: the schema already allows only http(s).
  if (!/^https?:\/\//i.test(url)) throw unreachable('blocked_scheme');
  let response: HttpResponse;
  try {
    // No trustedHosts: only public addresses, after every redirect; no credentials at all.
    response = await deps.http.request(url, { timeoutMs: deps.settings.fetchTimeoutMs, maxBytes: cap, maxRedirects: 3 });
  } catch (error) {
    throw fetchFailure(error, cap, type);
  }
  if (response.status < 200 || response.status > 299) {
    await response.bytes().catch(() => undefined);
    throw unreachable('http_status', { status: response.status });
  }
  try {
    return await deps.store.put(response.stream(), { maxBytes: cap, quarantine: true });
  } catch (error) {
    throw fetchFailure(error, cap, type);
  }
}

async function decode(deps: OutboundDeps, base64: string, cap: number, type: MediaPartType): Promise<StoredMedia> {
  const bytes = Buffer.from(base64, 'base64');
  if (bytes.byteLength > cap) throw tooLarge(cap, type, bytes.byteLength);
  return deps.store.put(
    (async function* () {
      yield bytes;
    })(),
    { maxBytes: cap, quarantine: true },
  );
}

async function fromStored(
  deps: OutboundDeps,
  entry: AdapterEntry,
  part: MediaSendPart,
  mediaId: string,
  cap: number,
  filename: string | undefined,
): Promise<PreparedMedia> {
  const [row] = await deps.db.select().from(media).where(eq(media.id, mediaId)).limit(1);
  if (!row || row.status !== 'ready' || !row.storageKey || row.size === null || !row.sha256) {
    throw unreachable(row ? `media_${row.status}` : 'media_not_found', { mediaId });
  }
  if (row.size > cap) throw tooLarge(cap, part.type, row.size);
  const stream = await deps.store.open(row.storageKey);
  if (!stream) throw unreachable('media_bytes_gone', { mediaId });
  // Typed again under THIS account's rules: stored media may come from another channel.
  const type = checkType(entry, part.type, await detectMediaType(await readHead(stream)));
  return {
    id: row.id,
    fresh: false,
    storageKey: row.storageKey,
    sha256: row.sha256,
    size: row.size,
    mime: type.mime,
    ext: type.ext,
    ...(filename !== undefined ? { filename } : row.filename ? { filename: row.filename } : {}),
    origin: 'stored',
  };
}

/** The detected type must be allowed on the account and fit the part (an image part holds an image). */
function checkType(entry: AdapterEntry, partType: MediaPartType, detected: DetectedType | null): DetectedType {
  const allow = entry.adapter.capabilities.attachments.allow;
  if (!detected || !isAllowedExt(detected.ext, allow)) {
    throw new OmniError('attachment_type_not_allowed', `attachment type ${detected?.ext ?? 'unknown'} is not allowed on this account`, {
      details: { detected: detected?.ext ?? null, allowed: [...allow] },
    });
  }
  const family = detected.mime.split('/')[0];
  const fits: Record<MediaPartType, boolean> = {
    image: family === 'image',
    sticker: family === 'image',
    video: family === 'video',
    audio: family === 'audio',
    voice: family === 'audio',
    file: true,
  };
  if (!fits[partType]) {
    throw new OmniError('attachment_type_not_allowed', `a ${detected.ext} file cannot be sent as ${partType}`, {
      details: { detected: detected.ext, partType, allowed: [...allow] },
    });
  }
  return detected;
}

async function readHead(stream: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const iterator = stream[Symbol.asyncIterator]();
  try {
    while (size < DETECTION_HEAD_BYTES) {
      const next = await iterator.next();
      if (next.done) break;
      chunks.push(next.value);
      size += next.value.byteLength;
    }
  } finally {
    await iterator.return?.();
  }
  return Buffer.concat(chunks).subarray(0, DETECTION_HEAD_BYTES);
}

function fetchFailure(error: unknown, cap: number, type: MediaPartType): OmniError {
  if (error instanceof OmniError && error.code === 'attachment_too_large') return tooLarge(cap, type);
  if (error instanceof OmniError) return error;
  if (error instanceof HttpClientError) {
    if (error.reason === 'too_large') return tooLarge(cap, type);
    return unreachable(error.reason);
  }
  return unreachable('fetch_failed');
}

function unreachable(reason: string, details: Record<string, unknown> = {}): OmniError {
  return new OmniError('attachment_unreachable', 'the attachment could not be fetched', { details: { reason, ...details } });
}

function tooLarge(cap: number, type: MediaPartType, size?: number): OmniError {
  return new OmniError('attachment_too_large', `the attachment is larger than ${cap} bytes allowed for ${type}`, {
    details: { maxBytes: cap, partType: type, ...(size !== undefined ? { size } : {}) },
  });
}
