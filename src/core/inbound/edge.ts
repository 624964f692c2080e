/**
 * Checks on values taken from a platform payload, before any of them reaches SQL. Parsers use
 * the helpers on each item (an item that fails becomes an `invalid` event with its own bytes);
 * the core screens every event again, so an adapter that missed one still costs one item, never
 * its batch: a date PostgreSQL cannot store would otherwise fail the whole transaction forever.
 */
import { createHash } from 'node:crypto';
import type { InboundEvent, InboundInvalid } from '../adapter.ts';
import { WebhookPayloadError } from '../errors.ts';

/** Longest platform id kept (BSUIDs, OpenIDs and wamids are far shorter; events cap ids at 512). */
export const MAX_ID_LENGTH = 512;
/** Latest accepted platform time: nothing real is stamped after 2100 (Meta once sent year 33658). */
export const MAX_TIMESTAMP_MS = Date.UTC(2100, 0, 1);

/** A Date a platform may plausibly have stamped: 1970 up to 2100. */
export function isSaneDate(date: unknown): date is Date {
  return date instanceof Date && Number.isFinite(date.getTime()) && date.getTime() >= 0 && date.getTime() < MAX_TIMESTAMP_MS;
}

/** Unix seconds (a number or a digit string) to a Date, or undefined outside the sane range. */
export function unixSeconds(value: unknown): Date | undefined {
  const seconds = typeof value === 'string' && /^\d{1,15}$/.test(value) ? Number(value) : value;
  if (typeof seconds !== 'number' || !Number.isSafeInteger(seconds) || seconds < 0) return undefined;
  const date = new Date(seconds * 1000);
  return isSaneDate(date) ? date : undefined;
}

/** True for an id a row and a subject can hold: non-empty, at most MAX_ID_LENGTH characters. */
export function isBoundedId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_ID_LENGTH;
}

/** An `invalid` event for one item; the key is the platform's id when usable, else the bytes' hash. */
export function invalidItem(reason: string, raw: Uint8Array | string, id?: string): InboundInvalid {
  const dedupeKey = isBoundedId(id) ? id : `sha256:${createHash('sha256').update(raw).digest('hex')}`;
  return { kind: 'invalid', dedupeKey, reason, raw };
}

/** The item's bytes as recorded: its JSON (or the text it already is). */
export function rawBytesOf(raw: unknown): string {
  if (typeof raw === 'string') return raw;
  try {
    return JSON.stringify(raw) ?? 'null';
  } catch {
    return '"(raw item could not be serialised)"';
  }
}

/** Why an event cannot be stored as it is, or null when every value is in range. */
export function screenFailure(event: InboundEvent): string | null {
  switch (event.kind) {
    case 'ignored':
      return null;
    case 'invalid':
      return isBoundedId(event.dedupeKey) ? null : 'id_too_long';
    case 'message':
      if (!isBoundedId(event.dedupeKey) || !isBoundedId(event.externalId) || !isBoundedId(event.conversation.externalId) || !isBoundedId(event.sender.externalId)) return 'id_too_long';
      if (event.replyTo && !isBoundedId(event.replyTo.externalId)) return 'id_too_long';
      if (event.sender.aliases?.some((alias) => !isBoundedId(alias))) return 'id_too_long';
      return isSaneDate(event.timestamp) ? null : 'bad_timestamp';
    case 'status':
      if (!isBoundedId(event.dedupeKey) || !isBoundedId(event.externalId)) return 'id_too_long';
      return isSaneDate(event.timestamp) ? null : 'bad_timestamp';
    case 'identity':
      if (!isBoundedId(event.dedupeKey) || !isBoundedId(event.identity.externalId)) return 'id_too_long';
      if (event.newExternalId !== undefined && !isBoundedId(event.newExternalId)) return 'id_too_long';
      return isSaneDate(event.timestamp) ? null : 'bad_timestamp';
    case 'conversation':
      if (!isBoundedId(event.dedupeKey) || [event.externalId, event.newExternalId, event.via].some((id) => id !== undefined && !isBoundedId(id))) return 'id_too_long';
      return isSaneDate(event.timestamp) ? null : 'bad_timestamp';
    case 'edit':
    case 'delete':
      if (!isBoundedId(event.dedupeKey) || !isBoundedId(event.targetExternalId)) return 'id_too_long';
      return isSaneDate(event.timestamp) ? null : 'bad_timestamp';
  }
}

/** Every event whose values are out of range becomes an `invalid` one with its own raw item. */
export function screenEvents(events: ReadonlyArray<InboundEvent>): InboundEvent[] {
  return events.map((event) => {
    const failure = screenFailure(event);
    if (failure === null) return event;
    if (event.kind === 'invalid') return invalidItem(event.reason, event.raw);
    const raw = rawBytesOf((event as { raw?: unknown }).raw);
    return invalidItem(failure, raw, (event as { dedupeKey?: string }).dedupeKey);
  });
}

/** A stable fingerprint of a body, for replay guards. */
export function fingerprint(body: Uint8Array): string {
  return createHash('sha256').update(body).digest('hex');
}

/**
 * Deepest JSON nesting a webhook body may have. Real payloads nest about 8 deep; deeper JSON is
 * refused before parsing, so no later `JSON.stringify` of a raw payload can overflow the stack.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * Decodes an authentic JSON webhook body: strict UTF-8, nesting bounded before `JSON.parse`
 * (which recurses), and a WebhookPayloadError (`invalid_utf8`, `too_deep`, `invalid_json`)
 * for a body no platform sends. Returns the text too, for parsers that keep each item's bytes.
 */
export function decodeJsonBody(body: Uint8Array | string): { text: string; value: unknown } {
  let text: string;
  if (typeof body === 'string') text = body;
  else {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(body);
    } catch {
      throw new WebhookPayloadError('invalid_utf8');
    }
  }
  if (exceedsJsonDepth(text, MAX_JSON_DEPTH)) throw new WebhookPayloadError('too_deep');
  try {
    return { text, value: JSON.parse(text) };
  } catch {
    throw new WebhookPayloadError('invalid_json');
  }
}

/** Scans brackets outside strings; linear, no recursion. */
function exceedsJsonDepth(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (inString) {
      if (char === 0x5c) i++;
      else if (char === 0x22) inString = false;
    } else if (char === 0x22) inString = true;
    else if (char === 0x7b || char === 0x5b) {
      if (++depth > limit) return true;
    } else if (char === 0x7d || char === 0x5d) depth--;
  }
  return false;
}
