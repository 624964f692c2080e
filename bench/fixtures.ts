/**
 * What the benchmark sends and stores: signed WhatsApp text webhooks shaped like Meta's
 * (test/fixtures/whatsapp/text-message.json), and ~1 KB `omni.message/v1` outbox payloads
 * shaped like the ones the ingest writes.
 */
import { createHmac } from 'node:crypto';
import type { PreparedRequest } from './load.ts';

/** The one WhatsApp account every benchmark daemon serves. */
export const BENCH_ACCOUNT = {
  id: 'bench-wa',
  phoneNumberId: '106540352242922',
  appSecret: 'bench-app-secret',
  accessToken: 'bench-access-token',
  verifyToken: 'bench-verify-token',
};

/** The account's channel file, as an operator would write it. */
export function whatsappChannelYaml(): string {
  return [
    `id: ${BENCH_ACCOUNT.id}`,
    'channel: whatsapp',
    `phoneNumberId: "${BENCH_ACCOUNT.phoneNumberId}"`,
    `accessToken: ${BENCH_ACCOUNT.accessToken}`,
    `appSecret: ${BENCH_ACCOUNT.appSecret}`,
    `verifyToken: ${BENCH_ACCOUNT.verifyToken}`,
  ].join('\n') + '\n';
}

// A typical customer message; the whole webhook body comes to about 590 B, like real text webhooks.
const TEXT = 'Hello, I ordered the blue jacket last week (order 4471) and would like to know whether it ships before Friday, and if it also comes in another colour?';

// The timestamp the next batch of webhooks starts from: an hour ago, then onwards, so every
// call's messages come after the previous call's.
let nextTimestamp = Math.floor(Date.now() / 1000) - 3600;

/**
 * `count` signed webhooks, one text message each, with unique wamids; senders cycle through
 * `senders` numbers so conversations get several messages (the common case) but consecutive
 * requests belong to different conversations, as with real traffic. Each sender's messages
 * carry timestamps a second apart, as a real customer's differ: with one timestamp for all,
 * a known sender's `last_seen`, its conversation's `last_message_at` and its window's expiry
 * would stay unchanged, and PostgreSQL would update those rows in place (HOT) instead of adding
 * an entry to every index of theirs, which real traffic does (measured: 85-94% HOT updates
 * against none, about 0.04 ms of PostgreSQL's CPU per webhook less than real traffic costs).
 */
export function signedWebhooks(options: { count: number; senders: number; tag: string; senderOffset?: number }): PreparedRequest[] {
  const first = nextTimestamp;
  nextTimestamp += Math.ceil(options.count / options.senders) + 1;
  const requests: PreparedRequest[] = [];
  for (let i = 0; i < options.count; i++) {
    const sender = String(16_505_550_000 + (options.senderOffset ?? 0) + (i % options.senders));
    const body = {
      object: 'whatsapp_business_account',
      entry: [
        {
          id: '102290129340398',
          changes: [
            {
              value: {
                messaging_product: 'whatsapp',
                metadata: { display_phone_number: '15550783881', phone_number_id: BENCH_ACCOUNT.phoneNumberId },
                contacts: [{ profile: { name: `Customer ${sender.slice(-4)}` }, wa_id: sender }],
                messages: [
                  {
                    from: sender,
                    id: `wamid.BENCH${options.tag}${String(i).padStart(7, '0')}`,
                    timestamp: String(first + Math.floor(i / options.senders)),
                    type: 'text',
                    text: { body: TEXT },
                  },
                ],
              },
              field: 'messages',
            },
          ],
        },
      ],
    };
    requests.push(signed(body));
  }
  return requests;
}

/** One outbox row as the relay reads it. */
export interface OutboxSeed {
  subject: string;
  msgId: string;
  payload: Record<string, unknown>;
  orderingKey: string;
}

/**
 * `count` outbox rows of ~1 KB `omni.message/v1` payloads, each in its own conversation
 * (distinct ordering keys), published under `subject`.
 */
export function outboxSeeds(count: number, subject: string): OutboxSeed[] {
  const at = new Date();
  const seeds: OutboxSeed[] = [];
  for (let i = 0; i < count; i++) {
    const n = String(i).padStart(8, '0');
    const sender = String(16_505_550_000 + i);
    const messageId = `msg_01BENCH${n}`;
    const conversationId = `cv_01BENCH${n}`;
    const wamid = `wamid.BENCHRELAY${n}`;
    seeds.push({
      subject,
      msgId: `${messageId}:in`,
      orderingKey: conversationId,
      payload: {
        schema: 'omni.message/v1',
        id: messageId,
        direction: 'in',
        channel: 'whatsapp',
        account: BENCH_ACCOUNT.id,
        externalId: wamid,
        conversationId,
        contact: {
          id: `ct_01BENCH${n}`,
          identity: { channel: 'whatsapp', account: BENCH_ACCOUNT.id, externalId: sender },
          displayName: `Customer ${sender.slice(-4)}`,
          phone: `+${sender}`,
        },
        timestamp: at.toISOString(),
        receivedAt: at.toISOString(),
        parts: [{ type: 'text', text: TEXT }],
        session: { window: '24h', expiresAt: new Date(at.getTime() + 86_400_000).toISOString() },
        raw: { from: sender, id: wamid, timestamp: String(Math.floor(at.getTime() / 1000)), type: 'text', text: { body: TEXT } },
      },
    });
  }
  return seeds;
}

/**
 * `count` signed delivery receipts (`statuses`), each for its own outbound wamid, shaped like
 * Meta's. The wamids name no message of the bench's, as for a message sent by another system:
 * the receipt is recorded and matches nothing, which is the cheapest real status.
 */
export function signedStatuses(options: { count: number; tag: string }): PreparedRequest[] {
  const now = Math.floor(Date.now() / 1000);
  const requests: PreparedRequest[] = [];
  for (let i = 0; i < options.count; i++) {
    const recipient = String(16_505_560_000 + i);
    const body = {
      object: 'whatsapp_business_account',
      entry: [{
        id: '102290129340398',
        changes: [{
          value: {
            messaging_product: 'whatsapp',
            metadata: { display_phone_number: '15550783881', phone_number_id: BENCH_ACCOUNT.phoneNumberId },
            statuses: [{
              id: `wamid.BENCHOUT${options.tag}${String(i).padStart(7, '0')}`,
              status: 'delivered',
              timestamp: String(now),
              recipient_id: recipient,
              conversation: { id: '6ceb9d929c9bdc4f90e967a32f8639b4', origin: { type: 'service' } },
              pricing: { billable: true, pricing_model: 'CBP', category: 'service' },
            }],
          },
          field: 'messages',
        }],
      }],
    };
    requests.push(signed(body));
  }
  return requests;
}

/** One signed webhook carrying `count` text messages (Meta sends up to 1,000), `senders` senders. */
export function signedBigWebhook(options: { count: number; senders: number; tag: string; senderOffset?: number }): PreparedRequest {
  const now = String(Math.floor(Date.now() / 1000));
  const senderOf = (i: number) => String(16_505_550_000 + (options.senderOffset ?? 0) + (i % options.senders));
  const senders = [...new Set(Array.from({ length: Math.min(options.count, options.senders) }, (_, i) => senderOf(i)))];
  const body = {
    object: 'whatsapp_business_account',
    entry: [{
      id: '102290129340398',
      changes: [{
        value: {
          messaging_product: 'whatsapp',
          metadata: { display_phone_number: '15550783881', phone_number_id: BENCH_ACCOUNT.phoneNumberId },
          contacts: senders.map((sender) => ({ profile: { name: `Customer ${sender.slice(-4)}` }, wa_id: sender })),
          messages: Array.from({ length: options.count }, (_, i) => ({
            from: senderOf(i),
            id: `wamid.BENCH${options.tag}${String(i).padStart(7, '0')}`,
            timestamp: now,
            type: 'text',
            text: { body: TEXT },
          })),
        },
        field: 'messages',
      }],
    }],
  };
  return signed(body);
}

/** A webhook POST for the bench account, signed as Meta signs it. */
function signed(body: object): PreparedRequest {
  const raw = Buffer.from(JSON.stringify(body));
  return {
    path: `/webhooks/whatsapp/${BENCH_ACCOUNT.id}`,
    headers: {
      'content-type': 'application/json',
      'x-hub-signature-256': `sha256=${createHmac('sha256', BENCH_ACCOUNT.appSecret).update(raw).digest('hex')}`,
    },
    body: raw,
  };
}
