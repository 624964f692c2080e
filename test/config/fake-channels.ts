/** Fake channel definitions for the configuration tests: only the parts the loader reads. */
import { z } from 'zod';
import type { ChannelDefinition } from '../../src/core/adapter.ts';

function fakeChannel(id: string, defaults: ChannelDefinition['defaults'], settingsSchema: z.ZodType): ChannelDefinition {
  return {
    id,
    settingsSchema,
    defaults,
    secretFields: ['token'],
    create() {
      throw new Error('not used by configuration tests');
    },
  };
}

/** A channel with a window, a secret `token` and an enum `mode` with a default. */
export const chatChannel = fakeChannel(
  'chat',
  { window: '24h', attachments: ['pdf', 'jpg', 'png'], rateLimit: { perSecond: 80, perRecipientPerSecond: null } },
  z.strictObject({ token: z.string(), mode: z.enum(['a', 'b']).default('a') }),
);

/** A channel without a window and with a per-recipient rate limit. */
export const botChannel = fakeChannel(
  'bot',
  { window: 'none', attachments: ['gif', 'zip'], rateLimit: { perSecond: 30, perRecipientPerSecond: 1 } },
  z.object({ token: z.string().min(8), polling: z.boolean().default(false) }),
);

/** Both fakes, as the composition root would pass them. */
export const channels: ReadonlyMap<string, ChannelDefinition> = new Map([
  ['chat', chatChannel],
  ['bot', botChannel],
]);
