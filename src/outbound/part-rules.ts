/**
 * The parts of a send checked against what the channel declares in `capabilities.outbound`:
 * part types it can send, and the longest text and caption, in the channel's own unit. A send
 * the platform would refuse, or that no event could carry, is refused at acceptance instead of
 * failing after it was accepted. Channels that declare nothing are not checked here.
 */
import type { SendCommand, SendPart } from '../core/schemas/api.ts';
import { OmniError } from '../core/errors.ts';
import { MEDIA_PART_TYPES } from '../core/model.ts';
import type { AdapterEntry } from '../core/registry.ts';

type Outbound = NonNullable<AdapterEntry['adapter']['capabilities']['outbound']>;

const encoder = new TextEncoder();

/** The length of `value` in the channel's unit: UTF-16 code units or UTF-8 bytes. */
export function textLength(value: string, unit: Outbound['textUnit']): number {
  return unit === 'utf8_bytes' ? encoder.encode(value).byteLength : value.length;
}

/**
 * Refuses part types the channel does not send (media types: `attachment_type_not_allowed`,
 * others: `invalid_request`), and texts or captions over the channel's limits (`invalid_request`
 * with `details.limit`). The first offending part decides the answer.
 */
export function checkParts(entry: AdapterEntry, command: SendCommand): void {
  const outbound = entry.adapter.capabilities.outbound;
  if (outbound === undefined) return;
  const parts = command.parts ?? [];
  if (outbound.maxParts !== undefined && parts.length > outbound.maxParts) {
    throw new OmniError('invalid_request', `at most ${outbound.maxParts} parts per send on channel ${entry.account.channel}`, {
      details: { field: 'parts', limit: outbound.maxParts, given: parts.length },
    });
  }
  parts.forEach((part, index) => checkPart(entry, outbound, part, `parts[${index}]`));
}

function checkPart(entry: AdapterEntry, outbound: Outbound, part: SendPart, at: string): void {
  const channel = entry.account.channel;
  if (!(outbound.parts as ReadonlyArray<string>).includes(part.type)) {
    const media = (MEDIA_PART_TYPES as ReadonlyArray<string>).includes(part.type);
    throw new OmniError(media ? 'attachment_type_not_allowed' : 'invalid_request', `channel ${channel} cannot send ${part.type} parts`, {
      details: { field: `${at}.type`, partType: part.type, allowed: [...outbound.parts] },
    });
  }
  const unit = outbound.textUnit ?? 'chars';
  // Texts of text, buttons and list parts all become the platform's message body.
  if ('text' in part && typeof part.text === 'string') checkLength(channel, part.text, `${at}.text`, outbound.maxTextLength, unit);
  if ('caption' in part && typeof part.caption === 'string') checkLength(channel, part.caption, `${at}.caption`, outbound.maxCaptionLength, unit);
}

function checkLength(channel: string, value: string, field: string, limit: number, unit: 'chars' | 'utf8_bytes'): void {
  const length = textLength(value, unit);
  if (length <= limit) return;
  const what = unit === 'utf8_bytes' ? 'bytes (UTF-8)' : 'characters';
  throw new OmniError('invalid_request', `${field} is longer than the ${limit} ${what} channel ${channel} allows`, {
    details: { field, limit, unit, length },
  });
}
