/**
 * Inbound media download, the Bot API's two steps: `getFile(file_id)` for a `file_path` (valid
 * at least an hour), then `GET {apiBase}/file/bot<token>/<file_path>`. Bots may download at most
 * 20 MB, so a file Telegram announces as larger is refused with a reason before any request.
 * The token only ever goes to the configured API host (the client refuses redirects).
 */
import type { FetchedMedia } from '../../core/adapter.ts';
import { OmniError } from '../../core/errors.ts';
import type { InboundMediaRef } from '../../core/model.ts';
import { botApiFailure } from './api-errors.ts';
import { isRecord, type BotClient } from './client.ts';

/** What a download needs beyond the media reference. */
export interface FetchMediaOptions {
  client: BotClient;
  /** The smaller of Telegram's 20 MB and the account's `attachments.maxBytes`. */
  maxBytes: number;
  now(): Date;
}

/** file_ids are base64url-like; anything else never came from Telegram. */
const FILE_ID = /^[A-Za-z0-9_-]{1,256}$/;
/** A relative path such as `photos/file_3.jpg`: no traversal, no absolute paths, no query. */
const FILE_PATH = /^(?!\/)(?!.*(?:^|\/)\.\.?(?:\/|$))[A-Za-z0-9_.\-/]{1,512}$/;

/** Streams one inbound file. */
export async function fetchTelegramMedia(ref: InboundMediaRef, options: FetchMediaOptions, signal: AbortSignal): Promise<FetchedMedia> {
  const { client, maxBytes } = options;
  if (!FILE_ID.test(ref.ref)) throw new OmniError('attachment_unreachable', 'not a Telegram file_id', { details: { reason: 'invalid_media_ref' } });
  if (ref.declaredSize !== undefined && ref.declaredSize > maxBytes) throw tooLarge(ref.declaredSize, maxBytes);

  const answer = await client.call('getFile', { file_id: ref.ref }, { purpose: 'media', signal });
  if (!answer.ok) throw botApiFailure(answer, 'media', options.now());
  const file = isRecord(answer.result) ? answer.result : {};
  const size = typeof file.file_size === 'number' && Number.isSafeInteger(file.file_size) ? file.file_size : undefined;
  if (size !== undefined && size > maxBytes) throw tooLarge(size, maxBytes);
  const filePath = typeof file.file_path === 'string' ? file.file_path : undefined;
  // Telegram leaves file_path out for files over its download limit.
  if (filePath === undefined) throw new OmniError('attachment_too_large', 'Telegram gives no download path for this file (over 20 MB)', { details: { reason: 'no_file_path' } });
  if (!FILE_PATH.test(filePath)) throw new OmniError('attachment_unreachable', 'Telegram returned an unusable file path', { details: { reason: 'invalid_file_path' } });

  const response = await client.download(filePath, maxBytes, signal);
  if (response.status !== 200) {
    // Drain nothing: the body of a failed download is of no use and may be large.
    const status = response.status;
    if (status >= 500) throw new OmniError('channel_unavailable', 'Telegram file download failed', { details: { status } });
    if (status === 401) throw new OmniError('channel_rejected', 'Telegram rejected the bot token', { details: { status, field: 'botToken' } });
    throw new OmniError('attachment_unreachable', 'Telegram file not found or expired', { details: { status } });
  }
  const fetched: FetchedMedia = { body: scrubbedStream(response.stream(), client) };
  // getFile "may not preserve the original file name and MIME type": keep the message's.
  const mime = ref.declaredMime ?? response.headers.get('content-type') ?? undefined;
  if (mime !== undefined) fetched.declaredMime = mime;
  const declared = size ?? ref.declaredSize;
  if (declared !== undefined) fetched.declaredSize = declared;
  return fetched;
}

function tooLarge(size: number, maxBytes: number): OmniError {
  return new OmniError('attachment_too_large', 'Telegram file exceeds the download limit', { details: { reason: 'too_large', size, maxBytes } });
}

/** The body stream, with any error it throws mid-way mapped and scrubbed like the others. */
async function* scrubbedStream(body: AsyncIterable<Uint8Array>, client: BotClient): AsyncIterable<Uint8Array> {
  try {
    yield* body;
  } catch (error) {
    throw client.transportFailure(error, 'media');
  }
}
