/** Fake channel definitions for the configuration tests: only the parts the loader reads. */
import { z } from 'zod';
import type { ChannelDefinition } from '../../src/core/adapter.ts';

function fakeChannel(
  id: string,
  defaults: ChannelDefinition['defaults'],
  settingsSchema: z.ZodType,
  mergeEvidence: ChannelDefinition['mergeEvidence'] = [],
): ChannelDefinition {
  return {
    id,
    settingsSchema,
    defaults,
    secretFields: ['token'],
    mergeEvidence,
    create() {
      throw new Error('not used by configuration tests');
    },
  };
}

/** A channel with a window, a secret `token`, an enum `mode` with a default, and merge evidence on by default. */
export const chatChannel = fakeChannel(
  'chat',
  { window: '24h', attachments: ['pdf', 'jpg', 'png'], rateLimit: { perSecond: 80, perRecipientPerSecond: null } },
  z.strictObject({ token: z.string(), mode: z.enum(['a', 'b']).default('a') }),
  [{ namespace: 'chat_member', autoByDefault: true, description: 'One member id across chat accounts.' }],
);

/** A channel without a window, with a per-recipient rate limit and merge evidence off by default. */
export const botChannel = fakeChannel(
  'bot',
  { window: 'none', attachments: ['gif', 'zip'], rateLimit: { perSecond: 30, perRecipientPerSecond: 1 } },
  z.object({ token: z.string().min(8), polling: z.boolean().default(false) }),
  [{ namespace: 'bot_user', autoByDefault: false, description: 'One user id across bots.' }],
);

/** Both fakes, as the composition root would pass them. */
export const channels: ReadonlyMap<string, ChannelDefinition> = new Map([
  ['chat', chatChannel],
  ['bot', botChannel],
]);
