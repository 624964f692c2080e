/**
 * How a failed send maps to contract codes (reference 1.6, 1.7): one table for the Graph
 * answer and for `failed` status webhooks, retry hints, secrets kept out, and multi-part
 * sends that resume after the parts Meta already accepted.
 */
import { describe, expect, it } from 'vitest';
import { contractCodeOf } from '../../../src/channels/whatsapp/outbound-errors.ts';
import type { WhatsAppSendRaw } from '../../../src/channels/whatsapp/outbound.ts';
import type { InboundStatus } from '../../../src/core/adapter.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import { OmniError } from '../../../src/core/errors.ts';
import { HttpClientError } from '../../../src/core/http-client.ts';
import { whatsapp } from '../../../src/channels/whatsapp/index.ts';
import { memorySharedState, silentLogger } from '../../conformance/fakes.ts';
import { createAdapter, envelope, postRequest, SECRETS, testAccount } from './helpers.ts';
import { graphAnswer, graphErrorAnswer, inMemoryHttpClient, media, noAbort, outbound } from './outbound-helpers.ts';

const ok = (id = 'wamid.OK') => graphAnswer(200, { messaging_product: 'whatsapp', contacts: [{ input: '1', wa_id: '1' }], messages: [{ id }] });
const text = () => outbound([{ type: 'text', text: 'hello' }]);

/** The error of one send answered by `answer`. */
async function failure(answer: Response | HttpClientError, message = text()): Promise<OmniError> {
  const adapter = createAdapter(testAccount(), inMemoryHttpClient(() => answer));
  const error = await adapter.send!(message, noAbort).then(() => undefined, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(OmniError);
  expect(JSON.stringify({ message: (error as Error).message, details: (error as OmniError).details })).not.toContain(SECRETS.accessToken);
  return error as OmniError;
}

describe('send error mapping', () => {
  it('HTTP 429 with Retry-After → rate_limited with retryAfterSeconds from the header', async () => {
    const error = await failure(graphErrorAnswer(429, 130429, 'Rate limit hit', { 'retry-after': '7' }));
    expect(error).toMatchObject({ code: 'rate_limited', retryable: true, retryAfterSeconds: 7 });
    expect(error.details).toMatchObject({ status: 429, platformCode: 130429, title: 'Rate limit hit' });
  });

  it('Retry-After as an HTTP date is read against the clock', async () => {
    const at = new Date(new ManualClock().now().getTime() + 30_000).toUTCString();
    expect((await failure(graphAnswer(429, {}, { 'retry-after': at }))).retryAfterSeconds).toBe(30);
  });

  it('without Retry-After: 130429 → 1 s, 80007 → 60 s, a bare 429 → 5 s', async () => {
    expect(await failure(graphErrorAnswer(400, 130429, 'Rate limit hit'))).toMatchObject({ code: 'rate_limited', retryAfterSeconds: 1 });
    expect(await failure(graphErrorAnswer(400, 80007, 'Rate limit issues'))).toMatchObject({ code: 'rate_limited', retryAfterSeconds: 60 });
    expect(await failure(graphAnswer(429, {}))).toMatchObject({ code: 'rate_limited', retryAfterSeconds: 5 });
  });

  it('131056 (pair rate limit) backs off 4^x per recipient, reset by a success', async () => {
    const answers = [131056, 131056, 131056, 0, 131056];
    const adapter = createAdapter(testAccount(), inMemoryHttpClient(() => {
      const code = answers.shift()!;
      return code === 0 ? ok() : graphErrorAnswer(400, code, '(Business Account, Consumer Account) pair rate limit hit');
    }));
    const waits: Array<number | undefined> = [];
    for (let i = 0; i < 5; i++) {
      await adapter.send!(text(), noAbort).then(() => waits.push(0), (error: OmniError) => waits.push(error.retryAfterSeconds));
    }
    expect(waits).toEqual([1, 4, 16, 0, 1]);
  });

  it('131047 → session_expired, with allowed: [template]', async () => {
    const error = await failure(graphErrorAnswer(400, 131047, 'Re-engagement message', {}, 'Message failed to send because more than 24 hours have passed since the customer last replied to this number.'));
    expect(error).toMatchObject({ code: 'session_expired', retryable: false });
    expect(error.details).toMatchObject({ allowed: ['template'], platformCode: 131047, title: 'Re-engagement message', fbtraceId: 'AbCdEfGhIjK' });
  });

  const permanent: Array<[number, string]> = [
    [131026, 'recipient_unreachable'],
    [131030, 'recipient_unreachable'],
    [131050, 'recipient_unreachable'],
    [131049, 'quota_exceeded'],
    [131053, 'attachment_type_not_allowed'],
    [131052, 'attachment_type_not_allowed'],
    [132000, 'template_invalid'],
    [132001, 'template_invalid'],
    [132005, 'template_invalid'],
    [132007, 'template_invalid'],
    [132012, 'template_invalid'],
    [132015, 'template_invalid'],
    [100, 'channel_rejected'],
    [368, 'channel_rejected'],
  ];
  for (const [code, expected] of permanent) {
    it(`${code} → ${expected}, not retryable`, async () => {
      const error = await failure(graphErrorAnswer(400, code, 'Some title', {}, 'Some details'));
      expect(error).toMatchObject({ code: expected, retryable: false });
      expect(error.details).toMatchObject({ platformCode: code, title: 'Some title', details: 'Some details' });
    });
  }

  it('an unknown code → channel_rejected with the platform code, title and details', async () => {
    const error = await failure(graphErrorAnswer(400, 139999, 'Brand new error', {}, 'what happened'));
    expect(error.code).toBe('channel_rejected');
    expect(error.details).toEqual({ status: 400, platformCode: 139999, title: 'Brand new error', details: 'what happened', fbtraceId: 'AbCdEfGhIjK' });
  });

  it('5xx, unreadable bodies, timeouts and network failures → channel_unavailable (retryable)', async () => {
    for (const answer of [
      graphErrorAnswer(500, 1, 'An unknown error has occurred.'),
      graphErrorAnswer(503, 2, 'Service temporarily unavailable'),
      new Response('<html>Bad gateway</html>', { status: 502 }),
      graphErrorAnswer(400, 131000, 'Something went wrong'),
      new HttpClientError('timeout', 'request timed out after 15000 ms'),
      new HttpClientError('network', 'connection reset'),
    ]) {
      expect(await failure(answer)).toMatchObject({ code: 'channel_unavailable', retryable: true });
    }
    expect((await failure(graphAnswer(503, {}, { 'retry-after': '30' }))).retryAfterSeconds).toBe(30);
  });

  it('401 / code 190 → channel_rejected naming accessToken, never retried, token scrubbed', async () => {
    const echo = graphAnswer(401, { error: { message: `Invalid OAuth access token: ${SECRETS.accessToken}`, type: 'OAuthException', code: 190 } });
    const error = await failure(echo);
    expect(error).toMatchObject({ code: 'channel_rejected', retryable: false, message: 'WhatsApp rejected the access token' });
    expect(error.details).toMatchObject({ field: 'accessToken', platformCode: 190, title: 'Invalid OAuth access token: [redacted]' });
    expect((await failure(graphErrorAnswer(400, 190, 'Error validating access token'))).details?.field).toBe('accessToken');
  });

  it('100/33 (no such object) names phoneNumberId', async () => {
    const answer = graphAnswer(400, { error: { message: 'Unsupported post request. Object with ID does not exist', type: 'GraphMethodException', code: 100, error_subcode: 33 } });
    expect((await failure(answer)).details).toMatchObject({ field: 'phoneNumberId' });
  });

  it('a 200 without a message id is refused, not retried (Meta may have accepted it)', async () => {
    expect(await failure(graphAnswer(200, { messaging_product: 'whatsapp' }))).toMatchObject({ code: 'channel_rejected', retryable: false, details: { reason: 'no_message_id' } });
  });

  it('an upload refused with 131053 fails before any message is posted', async () => {
    const http = inMemoryHttpClient(() => graphErrorAnswer(400, 131053, 'Media upload error'));
    const adapter = createAdapter(testAccount(), http);
    await expect(adapter.send!(outbound([{ type: 'image', media: media('image/png', 'png') }]), noAbort)).rejects.toMatchObject({ code: 'attachment_type_not_allowed' });
    expect(http.seen.map((request) => request.url.pathname.split('/').at(-1))).toEqual(['media']);
  });

  it('an abort passes through as the HTTP client reports it, not as a platform failure', async () => {
    const controller = new AbortController();
    controller.abort();
    const adapter = createAdapter(testAccount(), inMemoryHttpClient(() => ok()));
    await expect(adapter.send!(text(), controller.signal)).rejects.not.toBeInstanceOf(OmniError);
  });
});

describe('multi-part sends resume after a failure', () => {
  it('keeps the accepted parts on the error and skips them on the retry of the same message', async () => {
    let call = 0;
    const http = inMemoryHttpClient(() => (++call === 2 ? graphErrorAnswer(503, 2, 'Service temporarily unavailable') : ok(`wamid.${call}`)));
    const shared = memorySharedState();
    const adapter = whatsapp.create({ account: testAccount(), logger: silentLogger(), http, clock: new ManualClock(), shared });
    const message = outbound([{ type: 'text', text: 'one' }, { type: 'text', text: 'two' }, { type: 'text', text: 'three' }]);

    const error = await adapter.send!(message, noAbort).then(() => undefined, (caught: OmniError) => caught);
    expect(error).toMatchObject({ code: 'channel_unavailable', details: { sentExternalIds: ['wamid.1'] } });

    const result = await adapter.send!(message, noAbort);
    const bodies = http.seen.map((request) => request.body.text.body);
    expect(bodies).toEqual(['one', 'two', 'two', 'three']);
    expect(result.externalId).toBe('wamid.4');
    expect((result.raw as WhatsAppSendRaw).externalIds).toEqual(['wamid.1', 'wamid.3', 'wamid.4']);
  });

  it('a single-part message never touches shared state', async () => {
    const shared = memorySharedState();
    const reads: string[] = [];
    const spy = { get: (key: string) => (reads.push(key), shared.get(key)), put: shared.put };
    const adapter = whatsapp.create({ account: testAccount(), logger: silentLogger(), http: inMemoryHttpClient(() => ok()), clock: new ManualClock(), shared: spy });
    await adapter.send!(text(), noAbort);
    expect(reads).toEqual([]);
  });
});

describe('failed status webhooks carry the same contract codes', () => {
  const table: Array<[string, string]> = [
    ['131047', 'session_expired'],
    ['131026', 'recipient_unreachable'],
    ['131049', 'quota_exceeded'],
    ['131050', 'recipient_unreachable'],
    ['130429', 'rate_limited'],
    ['131056', 'rate_limited'],
    ['131053', 'attachment_type_not_allowed'],
    ['132001', 'template_invalid'],
    ['132068', 'template_invalid'],
    ['131000', 'channel_unavailable'],
    ['368', 'channel_rejected'],
    ['unknown', 'channel_rejected'],
  ];
  it('contractCodeOf follows the table', () => {
    for (const [code, expected] of table) expect([code, contractCodeOf(code)]).toEqual([code, expected]);
  });

  it('a parsed failed status sets error.contractCode', async () => {
    const adapter = createAdapter();
    const body = JSON.stringify(envelope({
      statuses: [{ id: 'wamid.OUT', status: 'failed', timestamp: '1763719300', recipient_id: '16315551234', errors: [{ code: 131026, title: 'Message undeliverable' }] }],
    }));
    const [event] = adapter.parse(await adapter.verify(postRequest(body))) as InboundStatus[];
    expect(event!.error).toMatchObject({ code: '131026', contractCode: 'recipient_unreachable' });
  });
});
