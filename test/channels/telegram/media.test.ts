/** Inbound media: getFile, then the download from the API host only, refused early when over 20 MB. */
import { describe, expect, it } from 'vitest';
import { OmniError } from '../../../src/core/errors.ts';
import { inMemoryHttpClient } from '../whatsapp/outbound-helpers.ts';
import { SECRETS, createAdapter, testAccount } from './helpers.ts';
import { API_BASE, signal, withFake } from './outbound-helpers.ts';

const collect = async (body: AsyncIterable<Uint8Array>) => {
  const chunks: Uint8Array[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks);
};

const failureOf = async (promise: Promise<unknown>): Promise<OmniError> => {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(OmniError);
    return error as OmniError;
  }
  throw new Error('the fetch succeeded');
};

const MB = 1024 * 1024;

describe('telegram media', () => {
  it('getFile then the bytes from {apiBase}/file/bot<token>/<file_path>, keeping the message mime', async () => {
    const { adapter, fake, http } = withFake();
    const bytes = new TextEncoder().encode('%PDF-1.4 fake');
    const { id } = fake.putMedia(bytes, 'application/pdf', 'invoice.pdf');
    const fetched = await adapter.fetchMedia({ ref: id, declaredMime: 'application/pdf' }, signal());
    expect(Buffer.from(await collect(fetched.body)).equals(Buffer.from(bytes))).toBe(true);
    expect(fetched).toMatchObject({ declaredMime: 'application/pdf', declaredSize: bytes.byteLength });
    expect(http.seen.map((request) => `${request.method} ${request.url.pathname.replace(SECRETS.botToken, '<token>')}`)).toEqual([
      'POST /bot<token>/getFile',
      expect.stringMatching(/^GET \/file\/bot<token>\/documents\/file_\d+\.pdf$/),
    ]);
    for (const request of http.seen) {
      expect(request.url.origin).toBe(API_BASE);
      expect(request.options.trustedHosts).toEqual([new URL(API_BASE).hostname]);
      expect(request.options.maxRedirects).toBe(0);
    }
  });

  it('a file the message says is over 20 MB is refused before any request', async () => {
    const { adapter, http } = withFake();
    const error = await failureOf(adapter.fetchMedia({ ref: 'BQACAgIAAxkBAAI', declaredSize: 20 * MB + 1 }, signal()));
    expect(error).toMatchObject({ code: 'attachment_too_large', details: { reason: 'too_large' } });
    expect(http.seen).toEqual([]);
  });

  it('a file getFile says is too large is refused before the download; the account limit applies too', async () => {
    const big = inMemoryHttpClient(() => Response.json({ ok: true, result: { file_id: 'x', file_unique_id: 'u', file_size: 6 * MB, file_path: 'videos/file_1.mp4' } }));
    const adapter = createAdapter(testAccount({ apiBase: API_BASE, maxBytes: 5 * MB }), big);
    expect((await failureOf(adapter.fetchMedia({ ref: 'BAACAgIAAxkB' }, signal()))).code).toBe('attachment_too_large');
    expect(big.seen).toHaveLength(1);
    expect(adapter.capabilities.attachments.inboundMaxBytes).toBe(5 * MB);
  });

  it('unknown file ids, missing or unsafe file paths and failed downloads are clear errors', async () => {
    const { adapter } = withFake();
    expect((await failureOf(adapter.fetchMedia({ ref: 'BQACAgIAAxkBunknown' }, signal()))).code).toBe('attachment_unreachable');
    expect((await failureOf(adapter.fetchMedia({ ref: '../../etc/passwd' }, signal()))).details).toMatchObject({ reason: 'invalid_media_ref' });

    const answer = (result: unknown) => inMemoryHttpClient(() => Response.json({ ok: true, result }));
    const noPath = createAdapter(testAccount({ apiBase: API_BASE }), answer({ file_id: 'x', file_unique_id: 'u' }));
    expect((await failureOf(noPath.fetchMedia({ ref: 'BQAC' }, signal()))).details).toMatchObject({ reason: 'no_file_path' });
    for (const path of ['../secrets', '/var/lib/telegram-bot-api/file', 'photos/../../x', 'a?b=c']) {
      const unsafe = createAdapter(testAccount({ apiBase: API_BASE }), answer({ file_id: 'x', file_unique_id: 'u', file_path: path }));
      expect((await failureOf(unsafe.fetchMedia({ ref: 'BQAC' }, signal()))).details, path).toMatchObject({ reason: 'invalid_file_path' });
    }

    let calls = 0;
    const gone = inMemoryHttpClient(() => (calls++ === 0 ? Response.json({ ok: true, result: { file_id: 'x', file_path: 'photos/file_1.jpg' } }) : new Response('no', { status: 404 })));
    expect((await failureOf(createAdapter(testAccount({ apiBase: API_BASE }), gone).fetchMedia({ ref: 'AgAC' }, signal()))).code).toBe('attachment_unreachable');
  });
});
