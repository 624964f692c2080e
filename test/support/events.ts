/**
 * Inbound events as an adapter's `parse` hands them to the core, for tests that record events
 * without a platform webhook (the ingest, test channels). Every field has a plain default.
 */
import type { InboundIdentity, InboundMessage } from '../../src/core/adapter.ts';

let sequence = 0;

/** A customer text message from `sender` in their direct conversation; override any field. */
export function inboundMessageEvent(sender: InboundIdentity, overrides: Partial<InboundMessage> = {}): InboundMessage {
  const id = overrides.externalId ?? `m${Date.now().toString(36)}${sequence++}`;
  return {
    kind: 'message',
    dedupeKey: id,
    externalId: id,
    conversation: { externalId: sender.externalId, kind: 'direct' },
    sender,
    timestamp: new Date(),
    parts: [{ type: 'text', text: 'hi' }],
    sessionGrant: 'message',
    raw: {},
    ...overrides,
  };
}
