/**
 * Reading a LINE webhook body: strict UTF-8, a depth cap, JSON.parse, and the exact text of
 * each element of `events`, so an event that cannot be used is dead-lettered with its own
 * bytes rather than the whole batch's.
 */
import { WebhookPayloadError } from '../../core/errors.ts';
import { decodeJsonBody } from '../../core/inbound/edge.ts';

/** Real events nest about 5 deep; deeper JSON is refused before parsing (no later stringify can overflow). */

/** A parsed JSON object. */
export type JsonObject = Record<string, unknown>;

/** The parsed envelope and the source text of each event (undefined when it cannot be told apart). */
export interface DecodedBody {
  payload: JsonObject;
  events: unknown[];
  eventTexts: string[] | undefined;
}

/** Decodes an authentic body; throws WebhookPayloadError when it is not a LINE webhook. */
export function decodeBody(body: Uint8Array): DecodedBody {
  const { text, value: payload } = decodeJsonBody(body);
  if (!isRecord(payload)) throw new WebhookPayloadError('not_an_object');
  if (!Array.isArray(payload.events)) throw new WebhookPayloadError('missing_events');
  const texts = eventTexts(text);
  return { payload, events: payload.events, eventTexts: texts?.length === payload.events.length ? texts : undefined };
}

/** True for a plain JSON object (not null, not an array). */
export function isRecord(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The source text of each element of the top-level `events` array (the last one, as JSON.parse
 * keeps the last of duplicate keys). Only called on text that already parsed, so it can be a
 * plain linear scan over strings and brackets.
 */
export function eventTexts(text: string): string[] | undefined {
  let result: string[] | undefined;
  let current: string[] | null = null;
  let start = -1;
  let depth = 0;
  let key: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const from = i;
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c) i++;
      if (depth === 1) key = text.slice(from, i + 1);
      if (depth === 2 && current !== null && start < 0) start = from;
      continue;
    }
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
    if (depth === 2 && current !== null && start < 0 && c !== 0x5d) start = i;
    if (c === 0x7b || c === 0x5b) {
      if (depth === 1 && c === 0x5b && key === '"events"') {
        current = [];
        start = -1;
      }
      depth++;
    } else if (c === 0x7d || c === 0x5d) {
      if (depth === 2 && current !== null && c === 0x5d) {
        if (start >= 0) current.push(text.slice(start, i).trimEnd());
        result = current;
        current = null;
      }
      depth--;
    } else if (c === 0x2c) {
      if (depth === 2 && current !== null) {
        current.push(text.slice(start, i).trimEnd());
        start = -1;
      }
      if (depth === 1) key = null;
    }
  }
  return result;
}
