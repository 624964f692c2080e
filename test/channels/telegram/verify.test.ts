/** The secret-token header check: the only proof a webhook comes from Telegram. */
import { describe, expect, it } from 'vitest';
import { WebhookVerificationError } from '../../../src/core/errors.ts';
import { SECRETS, createAdapter, fixtureBytes, postRequest, testAccount } from './helpers.ts';

const reasonOf = async (call: () => unknown): Promise<string> => {
  try {
    await call();
  } catch (error) {
    expect(error).toBeInstanceOf(WebhookVerificationError);
    expect((error as Error).message).not.toContain(SECRETS.secretToken);
    return (error as WebhookVerificationError).reason;
  }
  throw new Error('verify accepted the request');
};

describe('telegram verify', () => {
  const body = fixtureBytes('text-message-update.json');

  it('accepts the right secret and hands on the raw bytes unchanged', async () => {
    const verified = await createAdapter().verify(postRequest(body));
    expect(verified.body).toBe(body);
  });

  it('refuses a missing, empty or wrong secret (401 at the route)', async () => {
    const adapter = createAdapter();
    expect(await reasonOf(() => adapter.verify(postRequest(body, null)))).toBe('missing_secret');
    expect(await reasonOf(() => adapter.verify(postRequest(body, '')))).toBe('missing_secret');
    expect(await reasonOf(() => adapter.verify(postRequest(body, 'wrong-secret-wrong-secret-000000')))).toBe('secret_mismatch');
    expect(await reasonOf(() => adapter.verify(postRequest(body, SECRETS.secretToken.slice(1))))).toBe('secret_mismatch');
    expect(await reasonOf(() => adapter.verify({ ...postRequest(body), method: 'GET' }))).toBe('method');
  });

  it('a polling account without a secret refuses every webhook', async () => {
    const adapter = createAdapter(testAccount({ settings: { mode: 'polling', secretToken: undefined } }));
    expect(await reasonOf(() => adapter.verify(postRequest(body)))).toBe('no_secret_configured');
  });
});
