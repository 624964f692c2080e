/**
 * Media download and the credential check against tiny local Graph API servers: the bearer
 * token on both steps, never to a foreign host, one refresh of an expired URL, error mapping.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { META_MEDIA_HOSTS, trustedMediaHost } from '../../../src/channels/whatsapp/media.ts';
import type { FetchedMedia } from '../../../src/core/adapter.ts';
import { OmniError } from '../../../src/core/errors.ts';
import { fetchHttpClient } from '../../conformance/fakes.ts';
import { createAdapter, PHONE_NUMBER_ID, SECRETS, testAccount } from './helpers.ts';

interface Seen {
  path: string;
  authorization: string | undefined;
}

const IMAGE = Buffer.from('\xff\xd8\xff\xe0 a tiny jpeg', 'latin1');
const graphSeen: Seen[] = [];
const foreignSeen: Seen[] = [];
let graph: Server;
let foreign: Server;
let graphBase = '';
let foreignBase = '';
let downloads = new Map<string, number>();

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`${(server.address() as AddressInfo).port}`)));
}

function record(list: Seen[], request: IncomingMessage): URL {
  const url = new URL(request.url ?? '/', 'http://x');
  list.push({ path: `${url.pathname}${url.search}`, authorization: request.headers.authorization });
  return url;
}

/** A media id's behaviour: where its URL points and how its download answers. */
function mediaUrl(id: string): string {
  if (id === 'foreign') return `${foreignBase}/stolen`;
  if (id === 'remote') return 'https://evil.example.com/media';
  return `${graphBase}/cdn/${id}?n=${downloads.get(id) ?? 0}`;
}

beforeAll(async () => {
  graph = createServer((request, response) => {
    const url = record(graphSeen, request);
    const json = (status: number, body: unknown) => response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (request.headers.authorization !== `Bearer ${SECRETS.accessToken}`) {
      return json(401, { error: { message: 'Invalid OAuth access token.', type: 'OAuthException', code: 190, fbtrace_id: 'AbC' } });
    }
    const [, version, id, extra] = url.pathname.split('/');
    if (version === 'cdn') {
      const count = (downloads.get(id!) ?? 0) + 1;
      downloads.set(id!, count);
      if (id === 'gone' || (id === 'expired' && count === 1)) return response.writeHead(404).end();
      return response.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': String(IMAGE.length) }).end(IMAGE);
    }
    if (version !== 'v23.0' || extra !== undefined) return json(404, { error: { code: 803, message: 'unknown path' } });
    if (id === PHONE_NUMBER_ID && url.searchParams.get('fields') === 'id') return json(200, { id: PHONE_NUMBER_ID });
    if (id === 'flaky') return json(503, { error: { code: 2, message: 'Service temporarily unavailable' } });
    if (id === 'missing' || (/^\d+$/.test(id!) && id !== '1003383421387256')) {
      return json(400, { error: { code: 100, message: 'Unsupported get request. Object does not exist' } });
    }
    if (url.searchParams.get('phone_number_id') !== PHONE_NUMBER_ID) return json(400, { error: { code: 100, message: 'missing phone_number_id' } });
    const size = id === 'huge' ? 500 * 1024 * 1024 : IMAGE.length;
    return json(200, { messaging_product: 'whatsapp', url: mediaUrl(id!), mime_type: 'image/jpeg', sha256: 'ab'.repeat(32), file_size: String(size), id });
  });
  foreign = createServer((request, response) => {
    record(foreignSeen, request);
    response.writeHead(200).end('thanks for the token');
  });
  graphBase = `http://127.0.0.1:${await listen(graph)}`;
  // Same machine, another host name: only the name decides trust.
  foreignBase = `http://localhost:${await listen(foreign)}`;
});

afterAll(async () => {
  await Promise.all([new Promise((resolve) => graph.close(resolve)), new Promise((resolve) => foreign.close(resolve))]);
});

beforeEach(() => {
  graphSeen.length = 0;
  foreignSeen.length = 0;
  downloads = new Map();
});

const adapterFor = (settings: { accessToken?: string; phoneNumberId?: string } = {}, maxBytes: number | null = null) =>
  createAdapter(testAccount({ apiBase: graphBase, maxBytes, settings }), fetchHttpClient());
const signal = () => new AbortController().signal;

async function collect(media: FetchedMedia): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of media.body) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function failure(call: () => Promise<unknown>): Promise<OmniError> {
  const error = await call().then(() => undefined, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(OmniError);
  expect((error as OmniError).message).not.toContain(SECRETS.accessToken);
  return error as OmniError;
}

describe('whatsapp fetchMedia', () => {
  it('looks the id up, downloads with the bearer token on both steps and streams the bytes', async () => {
    const media = await adapterFor().fetchMedia({ ref: '1003383421387256' }, signal());
    expect(await collect(media)).toEqual(IMAGE);
    expect(media.declaredMime).toBe('image/jpeg');
    expect(media.declaredSize).toBe(IMAGE.length);
    expect(graphSeen.map((seen) => seen.path)).toEqual([`/v23.0/1003383421387256?phone_number_id=${PHONE_NUMBER_ID}`, '/cdn/1003383421387256?n=0']);
    expect(graphSeen.every((seen) => seen.authorization === `Bearer ${SECRETS.accessToken}`)).toBe(true);
  });

  it('refuses a download URL on a foreign host without ever sending it the token', async () => {
    for (const ref of ['foreign', 'remote']) {
      const error = await failure(() => adapterFor().fetchMedia({ ref }, signal()));
      expect(error.code).toBe('attachment_unreachable');
      expect(error.details).toEqual({ reason: 'untrusted_media_host' });
    }
    expect(foreignSeen).toEqual([]);
  });

  it('fetches a new URL once when the old one answers 404', async () => {
    const media = await adapterFor().fetchMedia({ ref: 'expired' }, signal());
    expect(await collect(media)).toEqual(IMAGE);
    expect(graphSeen.map((seen) => seen.path.split('?')[0])).toEqual(['/v23.0/expired', '/cdn/expired', '/v23.0/expired', '/cdn/expired']);
  });

  it('gives up after that one refresh: attachment_unreachable', async () => {
    const error = await failure(() => adapterFor().fetchMedia({ ref: 'gone' }, signal()));
    expect(error.code).toBe('attachment_unreachable');
    expect(graphSeen).toHaveLength(4);
  });

  it('maps an unknown media id, a wrong token and a failing API to contract codes', async () => {
    expect((await failure(() => adapterFor().fetchMedia({ ref: 'missing' }, signal()))).code).toBe('attachment_unreachable');
    const unauthorized = await failure(() => adapterFor({ accessToken: 'revoked-token-123' }).fetchMedia({ ref: '1003383421387256' }, signal()));
    expect(unauthorized.code).toBe('channel_rejected');
    expect(unauthorized.details).toMatchObject({ field: 'accessToken', status: 401, platformCode: 190, fbtraceId: 'AbC' });
    const unavailable = await failure(() => adapterFor().fetchMedia({ ref: 'flaky' }, signal()));
    expect(unavailable.code).toBe('channel_unavailable');
    expect(unavailable.retryable).toBe(true);
  });

  it('refuses media larger than the inbound limit before downloading it', async () => {
    const error = await failure(() => adapterFor({}, 1024).fetchMedia({ ref: 'huge' }, signal()));
    expect(error.code).toBe('attachment_too_large');
    expect(graphSeen.map((seen) => seen.path.split('?')[0])).toEqual(['/v23.0/huge']);
  });

  it('refuses a ref that is not a media id without any request', async () => {
    for (const ref of ['..', '../../v23.0/me', 'a/b', '']) {
      expect((await failure(() => adapterFor().fetchMedia({ ref }, signal()))).code).toBe('attachment_unreachable');
    }
    expect(graphSeen).toEqual([]);
  });
});

describe('whatsapp media host policy', () => {
  const hosts = ['graph.facebook.com', ...META_MEDIA_HOSTS];
  const trusted = (url: string) => trustedMediaHost(url, 'graph.facebook.com', 'https:', hosts);

  it("accepts https on Meta's media hosts and the API host", () => {
    expect(trusted('https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1&ext=1&hash=x')).toBe('lookaside.fbsbx.com');
    expect(trusted('https://mmg.whatsapp.net/v/t62/abc')).toBe('mmg.whatsapp.net');
    expect(trusted('https://scontent.xx.fbcdn.net/v/t45')).toBe('scontent.xx.fbcdn.net');
    expect(trusted('https://graph.facebook.com/v23.0/x')).toBe('graph.facebook.com');
  });

  it('refuses plain http, look-alike hosts, bare parent domains and credentials in the URL', () => {
    for (const url of [
      'http://lookaside.fbsbx.com/x', 'https://fbsbx.com.evil.example/x', 'https://evilfbsbx.com/x', 'https://fbsbx.com/x',
      'https://user:pass@lookaside.fbsbx.com/x', 'ftp://lookaside.fbsbx.com/x', 'not a url',
    ]) {
      expect(trusted(url), url).toBeUndefined();
    }
  });
});

describe('whatsapp checkCredentials', () => {
  it('passes with a valid token and phone number id', async () => {
    await expect(adapterFor().checkCredentials()).resolves.toBeUndefined();
    expect(graphSeen).toEqual([{ path: `/v23.0/${PHONE_NUMBER_ID}?fields=id`, authorization: `Bearer ${SECRETS.accessToken}` }]);
  });

  it('names accessToken when the token is refused', async () => {
    const error = await failure(() => adapterFor({ accessToken: 'revoked-token-123' }).checkCredentials());
    expect(error.code).toBe('channel_rejected');
    expect(error.details?.field).toBe('accessToken');
    expect(error.retryable).toBe(false);
  });

  it('names phoneNumberId when Graph does not know the number', async () => {
    const error = await failure(() => adapterFor({ phoneNumberId: '999999999' }).checkCredentials());
    expect(error.code).toBe('channel_rejected');
    expect(error.details?.field).toBe('phoneNumberId');
  });

  it('is channel_unavailable (retryable) when the API cannot be reached', async () => {
    const account = testAccount({ apiBase: 'http://127.0.0.1:1' });
    const error = await failure(() => createAdapter(account, fetchHttpClient()).checkCredentials());
    expect(error.code).toBe('channel_unavailable');
    expect(error.retryable).toBe(true);
  });
});
