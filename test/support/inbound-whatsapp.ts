/**
 * Customers of the test daemon's WhatsApp accounts (`WA` and siblings), played through the
 * WhatsApp simulator by the generic helper in `inbound.ts`.
 */
import { whatsapp } from '../../src/channels/whatsapp/index.ts';
import type { SimulateInput } from '../../src/core/adapter.ts';
import type { AccountConfig } from '../../src/core/config/types.ts';
import { WA } from './daemon.ts';
import { simulateCustomer, testAccountOf, type SimulatedInbound } from './inbound.ts';

/** The test daemon's WhatsApp account (`WA`), or another number of the same business. */
export function whatsappTestAccount(overrides: { id?: string; phoneNumberId?: string; appSecret?: string } = {}): AccountConfig {
  const { accessToken, verifyToken } = WA;
  return testAccountOf(whatsapp, overrides.id ?? WA.account, {
    phoneNumberId: overrides.phoneNumberId ?? WA.phoneNumberId,
    accessToken,
    appSecret: overrides.appSecret ?? WA.appSecret,
    verifyToken,
  });
}

/** A WhatsApp customer webhook of any kind (text, media with caption) to the test daemon's account. */
export function whatsappCustomer(input: SimulateInput, account: AccountConfig = whatsappTestAccount()): SimulatedInbound {
  return simulateCustomer(whatsapp, account, { name: 'Kerry Fisher', ...input });
}

/** One WhatsApp text from a customer (digits) to the test daemon's account, as Meta sends it. */
export function whatsappText(input: { from: string; text?: string; name?: string; at?: Date; account?: AccountConfig }): SimulatedInbound {
  return whatsappCustomer(
    { from: input.from, text: input.text ?? 'hello', ...(input.name !== undefined ? { name: input.name } : {}), ...(input.at !== undefined ? { timestamp: input.at } : {}) },
    input.account,
  );
}
