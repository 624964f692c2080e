/**
 * The fields every channel file has (docs/configuration.md). Defaults for the window, the
 * attachment types and the rate limit come from the channel's own definition; everything else
 * in a channel file belongs to the channel and is validated by its `settingsSchema`.
 */
import { z } from 'zod';
import type { ChannelDefaults } from '../adapter.ts';
import { durationField, envBoolean, envInteger, envNumber, httpUrl, section, windowField } from './fields.ts';
import type { AccountCommon } from './types.ts';

/** The top-level keys that are common to every channel; any other key is the channel's. */
export const COMMON_KEYS: ReadonlyArray<string> = ['id', 'channel', 'enabled', 'apiBase', 'session', 'attachments', 'rateLimit', 'prices'];

/** Account ids (docs/configuration.md): also used in webhook paths and NATS subjects. */
export const ACCOUNT_ID_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** The notice lead time when a file does not say. */
export const DEFAULT_EXPIRING_NOTICE = '1h';

/** Defaults used to still check the common fields of a file whose channel is unknown. */
export const NEUTRAL_DEFAULTS: ChannelDefaults = {
  window: 'none',
  attachments: [],
  rateLimit: { perSecond: 1, perRecipientPerSecond: null },
};

const extension = z
  .string()
  .regex(/^\.?[A-Za-z0-9]{1,16}$/, 'must be a file extension such as pdf or jpg')
  .transform((text) => text.replace(/^\./, '').toLowerCase());

/** Validates the common fields with `defaults` applied; its output is exactly `AccountCommon`. */
export function commonSchema(defaults: ChannelDefaults) {
  const session = section({
    window: windowField()
      .prefault(defaults.window)
      .describe('Customer-service window after a customer message (90s, 30m, 24h, 2d, 1h30m) or none.'),
    expiringNotice: durationField()
      .prefault(DEFAULT_EXPIRING_NOTICE)
      .describe('How long before the window closes the session.expiring event is published.'),
  }).transform((value, ctx): AccountCommon['session'] => {
    // A notice as long as the window would fire the moment the window opens.
    if (value.window.ms !== null && value.expiringNotice >= value.window.ms) {
      ctx.issues.push({
        code: 'custom',
        input: value,
        path: ['expiringNotice'],
        message: `must be shorter than session.window (it defaults to ${DEFAULT_EXPIRING_NOTICE})`,
      });
      return z.NEVER;
    }
    return { windowMs: value.window.ms, window: value.window.text, expiringNoticeMs: value.expiringNotice };
  });

  return z.strictObject({
    id: z
      .string()
      .regex(ACCOUNT_ID_RE, 'must be 1-63 lowercase letters, digits or dashes, not starting with a dash')
      .describe('Account id, unique across files; used in webhook paths and NATS subjects.'),
    channel: z.string().describe('Channel of this account.'),
    enabled: envBoolean().default(true).describe('A disabled account is validated but not started.'),
    apiBase: httpUrl()
      .nullable()
      .default(null)
      .describe('Override of the platform API base URL (sandbox, tests, proxies); null = the platform default.'),
    session,
    attachments: section({
      allow: z
        .array(extension)
        .transform((list) => [...new Set(list)])
        .prefault([...defaults.attachments])
        .describe('Attachment types allowed on this account, decided from the bytes.'),
      maxBytes: envInteger(z.int().positive())
        .nullable()
        .default(null)
        .describe('Largest attachment in bytes; null = the platform limits.'),
    }),
    rateLimit: section({
      perSecond: envNumber(z.number().positive())
        .default(defaults.rateLimit.perSecond)
        .describe('Sends per second on this account.'),
      perRecipientPerSecond: envNumber(z.number().positive())
        .nullable()
        .default(defaults.rateLimit.perRecipientPerSecond)
        .describe('Sends per second to one recipient; null = no separate limit.'),
      perGroupPerMinute: envNumber(z.number().positive())
        .nullable()
        .default(defaults.rateLimit.perGroupPerMinute ?? null)
        .describe('Platform messages per minute into one group conversation; null = no separate limit.'),
    }),
    prices: z
      .strictObject({
        currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as USD').describe('Currency of every price of this table.'),
        categories: z
          .record(z.string().regex(/^[a-z0-9_-]{1,64}$/, 'must be a platform category such as marketing'), envNumber(z.number().nonnegative()))
          .default({})
          .describe('Price of one billable message (one unit) per platform category: marketing, utility, authentication, service, push, ...'),
      })
      .nullable()
      .default(null)
      .describe('Price table for cost estimates (docs/outbound.md, Costs); null = counts only, no amounts.'),
  }) satisfies z.ZodType<AccountCommon, unknown>;
}
