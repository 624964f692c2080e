/**
 * A tiny channel for the outbound tests, beside the WhatsApp sandbox: no templates, a message
 * quota per window (like WeChat), an optional window, unsigned JSON webhooks
 * (`{ id, from, text }`), and a `send` whose behaviour a test scripts per account.
 */
import { z } from 'zod';
import type { ChannelAdapter, ChannelCapabilities, ChannelDefinition, OutboundMessage } from '../../src/core/adapter.ts';
import { OmniError } from '../../src/core/errors.ts';
import { inboundMessageEvent } from '../support/events.ts';

/** One call of the channel's `send`. */
export interface TestSend {
  account: string;
  message: OutboundMessage;
  at: number;
}

/** What `send` does: return a platform id, or throw. */
export type SendBehaviour = (message: OutboundMessage, signal: AbortSignal) => Promise<{ externalId: string }>;

let seq = 0;
const calls: TestSend[] = [];
const behaviours = new Map<string, SendBehaviour>();

/** Hooks the tests steer the channel with. */
export const testChannel = {
  /** Every `send` call, oldest first. */
  calls: (account?: string) => calls.filter((c) => account === undefined || c.account === account),
  /** Replaces what `send` does on an account (default: accept at once). */
  behave(account: string, behaviour: SendBehaviour | null): void {
    if (behaviour) behaviours.set(account, behaviour);
    else behaviours.delete(account);
  },
  /** An unsigned inbound webhook body from `from`. */
  inbound: (from: string, text = 'hello') => JSON.stringify({ id: `in-${++seq}-${Date.now()}`, from, text }),
};

/** Accepts at once with a fresh platform id. */
export const accept: SendBehaviour = async () => ({ externalId: `tc-${++seq}` });

/** Always refuses, permanently. */
export const poison: SendBehaviour = async () => {
  throw new OmniError('channel_rejected', 'the test platform refuses this', { details: { platformCode: 'E_POISON' } });
};

/** The test channel's definition: `id` decides its name (`testchan`). */
export function testChannelDefinition(options: { quota?: number | null } = {}): ChannelDefinition {
  return {
    id: 'testchan',
    settingsSchema: z.strictObject({}),
    defaults: { window: 'none', attachments: ['jpg', 'png', 'pdf'], rateLimit: { perSecond: 50, perRecipientPerSecond: null } },
    secretFields: [],
    create({ account }): ChannelAdapter {
      const windowMs = account.session.windowMs;
      const capabilities: ChannelCapabilities = {
        session: {
          windowMs,
          grants: { message: { durationMs: windowMs, quota: windowMs === null ? null : (options.quota ?? null) } },
          allowedOutsideWindow: [],
        },
        attachments: { allow: account.attachments.allow, maxBytes: { image: 10_000, file: 1_000_000 }, inboundMaxBytes: 1_000_000 },
        templates: null,
        receipts: [],
        rateLimit: account.rateLimit,
        ordering: 'conversation',
        inbound: ['webhook'],
      };
      return {
        channel: 'testchan',
        account: account.id,
        capabilities,
        verify: (request) => ({ request, body: request.body }),
        parse(webhook) {
          const body = JSON.parse(new TextDecoder().decode(webhook.body)) as { id: string; from: string; text: string };
          return [inboundMessageEvent({ externalId: body.from, displayName: `Test ${body.from}` }, { externalId: body.id, dedupeKey: body.id, parts: [{ type: 'text', text: body.text }], raw: body })];
        },
        checkCredentials: async () => undefined,
        fetchMedia: async () => {
          throw new OmniError('attachment_unreachable', 'the test channel has no media');
        },
        async send(message, signal) {
          calls.push({ account: account.id, message, at: Date.now() });
          return (behaviours.get(account.id) ?? accept)(message, signal);
        },
      };
    },
  };
}

/** A channel file of the test channel. */
export function testChannelYaml(id: string, extra: Record<string, string> = {}): string {
  return Object.entries({ id, channel: 'testchan', ...extra }).map(([k, v]) => `${k}: ${v}`).join('\n') + '\n';
}
