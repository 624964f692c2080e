/**
 * Events within the server's `max_payload`. The outbox keeps every event whole; only what is
 * published is bounded: a too-large event loses its `raw` original first (`rawOmitted: true`),
 * then its longest texts and captions are cut (`truncated: true` on the part), and it says where
 * the whole message is (`bounded.fetch`: `GET /v1/messages/{id}`). An event that still does not
 * fit is not published at all; the relay dead-letters it.
 */

/** Bytes kept free for the `Nats-Msg-Id` header and the protocol line around the payload. */
const HEADER_ROOM = 512;

/** Texts are never cut below this many characters: below it a bounded event says little. */
const MIN_TEXT = 256;

const encoder = new TextEncoder();

/** An event ready to publish: its bytes, and whether it had to be bounded to fit. */
export type Prepared = { ok: true; data: Uint8Array; bounded: boolean } | { ok: false; sizeBytes: number };

/** The largest payload the relay sends for a message id, given the server's `max_payload`. */
export function payloadBudget(maxPayload: number, msgId: string): number {
  return maxPayload - HEADER_ROOM - encoder.encode(msgId).byteLength;
}

/**
 * Serialises `payload`, bounded to `budget` bytes when it is larger; `ok: false` when it cannot
 * fit. A string is the event's JSON text already (as the relay reads it from the outbox): it is
 * sent as it is when it fits, and parsed only when it does not.
 */
export function preparePayload(payload: unknown, budget: number): Prepared {
  if (typeof payload === 'string') {
    const stored = encoder.encode(payload);
    if (stored.byteLength <= budget) return { ok: true, data: stored, bounded: false };
    // PostgreSQL prints jsonb with a space after each ':' and ',': the compact form of the
    // same event may still fit whole, and is tried before anything is cut.
    // A JSON string has no compact form to try (and would be taken for JSON text again).
    const parsed = parsedOrNull(payload);
    return parsed === null || typeof parsed === 'string' ? { ok: false, sizeBytes: stored.byteLength } : preparePayload(parsed, budget);
  }
  const whole = encoder.encode(JSON.stringify(payload));
  if (whole.byteLength <= budget) return { ok: true, data: whole, bounded: false };
  if (!isObject(payload)) return { ok: false, sizeBytes: whole.byteLength };
  const event: Record<string, unknown> = { ...payload };
  event.bounded = boundedNote(event, budget);
  if ('raw' in event && event.raw !== null && event.raw !== undefined) {
    event.raw = null;
    event.rawOmitted = true;
  }
  let data = encoder.encode(JSON.stringify(event));
  if (data.byteLength <= budget) return { ok: true, data, bounded: true };
  const original = Array.isArray(payload.parts) ? (payload.parts as unknown[]) : null;
  if (original === null) return { ok: false, sizeBytes: whole.byteLength };
  // Halve the longest text until the event fits: a few serialisations even for megabytes.
  let cap = Math.max(0, ...original.map(longestText));
  while (cap > MIN_TEXT) {
    cap = Math.max(MIN_TEXT, Math.floor(cap / 2));
    event.parts = original.map((part) => cutPart(part, cap));
    data = encoder.encode(JSON.stringify(event));
    if (data.byteLength <= budget) return { ok: true, data, bounded: true };
  }
  return { ok: false, sizeBytes: whole.byteLength };
}

/** What a bounded event says about itself; messages point at their whole form in the API. */
function boundedNote(event: Record<string, unknown>, budget: number): Record<string, unknown> {
  const note: Record<string, unknown> = { reason: 'max_payload', limitBytes: budget };
  if (event.schema === 'omni.message/v1' && typeof event.id === 'string') note.fetch = `/v1/messages/${encodeURIComponent(event.id)}`;
  return note;
}

const TEXT_FIELDS = ['text', 'caption'] as const;

function longestText(part: unknown): number {
  if (!isObject(part)) return 0;
  return Math.max(0, ...TEXT_FIELDS.map((field) => (typeof part[field] === 'string' ? (part[field] as string).length : 0)));
}

function cutPart(part: unknown, cap: number): unknown {
  if (!isObject(part)) return part;
  let copy: Record<string, unknown> | null = null;
  for (const field of TEXT_FIELDS) {
    const value = part[field];
    if (typeof value !== 'string' || value.length <= cap) continue;
    copy ??= { ...part };
    copy[field] = cut(value, cap);
    copy.truncated = true;
  }
  return copy ?? part;
}

/** The first `cap` UTF-16 units, never splitting a surrogate pair. */
function cut(value: string, cap: number): string {
  const end = /[\uD800-\uDBFF]/.test(value.charAt(cap - 1)) ? cap - 1 : cap;
  return value.slice(0, end);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** JSON text parsed, or null when it is not JSON. */
export function parsedOrNull(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}
