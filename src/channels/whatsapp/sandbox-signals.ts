/**
 * The fake's mark-as-read and typing indicator (`POST /{phone-number-id}/messages` with
 * `status: read`, optionally `typing_indicator`), checked and recorded exactly as sent so tests
 * can assert the wire format; and the per-message pricing the fake's status webhooks carry.
 */
import { graphJson, invalidParameter } from './sandbox-graph.ts';

/** A read (and typing) request the fake accepted, with its body exactly as parsed. */
export interface RecordedSignal {
  phoneNumberId: string;
  body: Record<string, unknown>;
  at: Date;
}

/** The log of accepted signals. */
export interface SignalLog {
  /** Checks the body like Meta and records it; the answer to give. */
  record(phoneNumberId: string, body: Record<string, unknown>, at: Date): Response;
  /** Accepted signals, oldest first. */
  signals(phoneNumberId?: string): RecordedSignal[];
}

const KEYS = new Set(['messaging_product', 'status', 'message_id', 'typing_indicator']);

/** A new, empty log. */
export function createSignalLog(): SignalLog {
  const log: RecordedSignal[] = [];
  return {
    record(phoneNumberId, body, at) {
      if (body.messaging_product !== 'whatsapp') return invalidParameter('The parameter messaging_product is required.');
      if (typeof body.message_id !== 'string' || !body.message_id.startsWith('wamid.')) return invalidParameter('Invalid parameter message_id');
      const extra = Object.keys(body).filter((key) => !KEYS.has(key));
      if (extra.length > 0) return invalidParameter(`Unexpected key "${extra[0]}" on param "$root".`);
      const typing = body.typing_indicator;
      if (typing !== undefined && (typeof typing !== 'object' || typing === null || (typing as { type?: unknown }).type !== 'text')) {
        return invalidParameter('Param typing_indicator[type] must be one of {TEXT} - got "unknown".');
      }
      log.push({ phoneNumberId, body, at });
      if (log.length > 10_000) log.shift();
      return graphJson({ success: true });
    },
    signals: (phoneNumberId) => log.filter((entry) => phoneNumberId === undefined || entry.phoneNumberId === phoneNumberId),
  };
}

/**
 * What Meta bills a message under per-message pricing: a template at its category (`regular`),
 * anything else is a free reply inside the customer-service window.
 */
export function pricingOf(type: string, request: Record<string, unknown>, categoryOf: (name: string, language: string) => string | undefined): { category: string; type: string } {
  if (type !== 'template') return { category: 'service', type: 'free_customer_service' };
  const template = (request.template ?? {}) as { name?: unknown; language?: { code?: unknown } };
  const category = categoryOf(String(template.name), String(template.language?.code)) ?? 'utility';
  return { category: category.toLowerCase(), type: 'regular' };
}
