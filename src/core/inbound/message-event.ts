/**
 * The `message.in` event of a recorded inbound message: one builder for the per-event path
 * (`record.ts`) and the set-based batch path (`record-batch.ts`), so both publish the same shape.
 */
import type { InboundMessage } from '../adapter.ts';
import type { MessageEvent } from '../model.ts';

/** Who sent it, as the event names them. */
export interface InboundSender {
  contactId: string;
  externalId: string;
  displayName: string | null;
  phone: string | null;
}

export function inboundMessageEvent(input: {
  messageId: string;
  scope: { channel: string; account: string };
  event: InboundMessage;
  conversationId: string;
  sender: InboundSender;
  receivedAt: Date;
  parts: MessageEvent['parts'];
  session: MessageEvent['session'];
}): MessageEvent {
  const { messageId, event, conversationId, sender, receivedAt, parts, session } = input;
  const { channel, account } = input.scope;
  return {
    schema: 'omni.message/v1',
    id: messageId,
    direction: 'in',
    channel,
    account,
    externalId: event.externalId,
    conversationId,
    contact: { id: sender.contactId, identity: { channel, account, externalId: sender.externalId }, displayName: sender.displayName, phone: sender.phone },
    timestamp: event.timestamp.toISOString(),
    receivedAt: receivedAt.toISOString(),
    parts,
    ...(event.replyTo ? { replyTo: event.replyTo } : {}),
    ...(event.referral ? { referral: event.referral } : {}),
    session,
    raw: event.raw,
  };
}
