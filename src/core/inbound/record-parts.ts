/**
 * Inbound parts made final before their message row is written: each media part gets its
 * daemon media id and a `media` row (pending, or failed at once when the platform declared it
 * larger than the account takes), so the message is written once and the media worker fetches
 * the bytes after the answer.
 */
import type { media } from '../storage/schema.ts';
import { newId } from '../ids.ts';
import { MEDIA_PART_TYPES, type InboundPart, type Part } from '../model.ts';
import type { IngestScope } from './scope.ts';

/** Parts as stored and published, and the media rows to insert beside them. */
export function mintParts(
  scope: IngestScope,
  inbound: ReadonlyArray<InboundPart>,
  messageId: string,
  receivedAt: Date,
): { parts: Part[]; mediaRows: Array<typeof media.$inferInsert> } {
  const { channel, account, capabilities } = scope.adapter;
  const parts: Part[] = [];
  const mediaRows: Array<typeof media.$inferInsert> = [];
  for (const [index, part] of inbound.entries()) {
    if (!isMediaPart(part)) {
      parts.push(part as Part);
      continue;
    }
    const mediaId = newId('med', receivedAt.getTime());
    const tooLarge = part.media.declaredSize !== undefined && part.media.declaredSize > capabilities.attachments.inboundMaxBytes;
    mediaRows.push({
      id: mediaId,
      messageId,
      partIndex: index,
      channel,
      account,
      sourceRef: { ...part.media },
      status: tooLarge ? 'failed' : 'pending',
      reason: tooLarge ? 'too_large' : null,
      mime: part.media.declaredMime ?? null,
      filename: part.media.filename ?? part.filename ?? null,
      nextAttemptAt: receivedAt,
      createdAt: receivedAt,
      updatedAt: receivedAt,
    });
    const { media: _ref, ...rest } = part;
    parts.push({
      ...rest,
      media: {
        id: mediaId,
        mime: part.media.declaredMime ?? null,
        ext: null,
        size: null,
        sha256: null,
        status: tooLarge ? 'failed' : 'pending',
        url: null,
        ...(part.media.filename ? { filename: part.media.filename } : {}),
        ...(tooLarge ? { reason: 'too_large' } : {}),
      },
    } as Part);
  }
  return { parts, mediaRows };
}

function isMediaPart(part: InboundPart): part is Extract<InboundPart, { media: unknown }> {
  return (MEDIA_PART_TYPES as readonly string[]).includes(part.type);
}
