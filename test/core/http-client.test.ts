import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createBrotliCompress, createGzip, constants as zlibConstants, gzipSync, type Gzip, type BrotliCompress } from 'node:zlib';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHttpClient, HttpClientError, type HttpFailure } from '../../src/core/http-client.ts';
import { createLogger } from '../../src/core/logger.ts';
import type { ResolvedAddress } from '../../src/core/net/host-guard.ts';

/** A real server on a loopback address that counts every TCP connection it accepts. */
interface TestServer {
  url: string;
  port: number;
  connections: number;
  requests: Array<{ url: string; method: string; headers: IncomingHttpHeaders; body: string }>;
  close(): Promise<void>;
}

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function startServer(
  handler: (req: IncomingMessage, res: ServerResponse, server: TestServer) => void,
  host = '127.0.0.1',
): Promise<TestServer> {
  const server = createServer();
  const state: TestServer = {
    url: '',
    port: 0,
    connections: 0,
    requests: [],
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
  server.on('connection', () => (state.connections += 1));
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      state.requests.push({ url: req.url ?? '', method: req.method ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() });
      handler(req, res, state);
    });
  });
  server.listen(0, host);
  await once(server, 'listening');
  state.port = (server.address() as AddressInfo).port;
  state.url = `http://${host}:${state.port}`;
  servers.push(state);
  return state;
}

// Names the tests resolve; the real resolver is never asked.
const DNS: Record<string, ResolvedAddress[]> = {
  'internal.example': [{ address: '10.0.0.5', family: 4 }],
  'mixed.example': [
    { address: '93.184.216.34', family: 4 },
    { address: '10.0.0.5', family: 4 },
  ],
  'metadata.example': [{ address: '::ffff:169.254.169.254', family: 6 }],
  'api.example': [{ address: '127.0.0.1', family: 4 }],
  'other.example': [{ address: '127.0.0.1', family: 4 }],
};
const lookups: string[] = [];
const lookup = async (hostname: string) => {
  lookups.push(hostname);
  const answer = DNS[hostname];
  if (!answer) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
  return answer;
};
const client = createHttpClient({ lookup, userAgent: 'omnibus-test' });

async function failure(promise: Promise<unknown>): Promise<HttpClientError> {
  const error = await promise.then(
    () => new Error('expected the request to fail'),
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(HttpClientError);
  return error as HttpClientError;
}

async function expectFailure(promise: Promise<unknown>, reason: HttpFailure): Promise<HttpClientError> {
  const error = await failure(promise);
  expect(error.reason).toBe(reason);
  return error;
}

describe('requests to trusted hosts', () => {
  it('GET returns status, headers and body; sends user-agent and accept-encoding', async () => {
    const server = await startServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end('{"ok":true}');
    });
    const response = await client.request(`${server.url}/v1/x?a=1`, { trustedHosts: ['127.0.0.1'] });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(response.url).toBe(`${server.url}/v1/x?a=1`);
    expect(await response.json()).toEqual({ ok: true });
    expect(server.requests[0]).toMatchObject({ url: '/v1/x?a=1', method: 'GET' });
    expect(server.requests[0]!.headers['user-agent']).toBe('omnibus-test');
    expect(server.requests[0]!.headers['accept-encoding']).toBe('gzip, deflate, br');
    expect(server.requests[0]!.headers.host).toBe(`127.0.0.1:${server.port}`);
  });

  it('resolves a trusted name once and connects to the vetted address (no second lookup)', async () => {
    const server = await startServer((_req, res) => res.end('hi'));
    lookups.length = 0;
    const response = await client.request(`http://api.example:${server.port}/`, { trustedHosts: ['API.example'] });
    expect(await response.text()).toBe('hi');
    expect(lookups).toEqual(['api.example']);
    expect(server.requests[0]!.headers.host).toBe(`api.example:${server.port}`);
  });

  it('tries the next vetted address when one refuses the connection', async () => {
    const server = await startServer((_req, res) => res.end('second address'));
    const twoAddresses = createHttpClient({
      lookup: async () => [
        { address: '127.0.0.3', family: 4 }, // nothing listens there
        { address: '127.0.0.1', family: 4 },
      ],
    });
    const response = await twoAddresses.request(`http://api.example:${server.port}/`, { trustedHosts: ['api.example'] });
    expect(await response.text()).toBe('second address');
  });

  it('a trusted connection is not reused when the same name is not trusted', async () => {
    const server = await startServer((_req, res) => res.end('ok'));
    await (await client.request(`http://api.example:${server.port}/`, { trustedHosts: ['api.example'] })).text();
    await expectFailure(client.request(`http://api.example:${server.port}/`), 'blocked_address');
    expect(server.requests).toHaveLength(1);
  });

  it('sends a string, bytes and FormData', async () => {
    const server = await startServer((_req, res) => res.end('ok'));
    const trustedHosts = ['127.0.0.1'];
    await (await client.request(server.url, { method: 'POST', body: 'hello', trustedHosts })).text();
    await (await client.request(server.url, { method: 'POST', body: new Uint8Array([104, 105]), trustedHosts })).text();
    const form = new FormData();
    form.set('type', 'image/jpeg');
    form.set('file', new Blob([new Uint8Array([0xff, 0xd8, 0xff])], { type: 'image/jpeg' }), 'a.jpg');
    await (await client.request(server.url, { method: 'POST', body: form, trustedHosts, headers: { 'Content-Type': 'text/plain' } })).text();
    const [text, bytes, multipart] = server.requests;
    expect(text).toMatchObject({ method: 'POST', body: 'hello' });
    expect(text!.headers['content-length']).toBe('5');
    expect(bytes!.body).toBe('hi');
    expect(multipart!.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    expect(multipart!.body).toContain('name="type"');
    expect(multipart!.body).toContain('filename="a.jpg"');
  });

  it('decodes a gzip-encoded body the server sent anyway', async () => {
    const server = await startServer((_req, res) => {
      res.setHeader('content-encoding', 'gzip');
      res.end(gzipSync('{"decoded":true}'));
    });
    const response = await client.request(server.url, { trustedHosts: ['127.0.0.1'] });
    expect(await response.json()).toEqual({ decoded: true });
  });

  it('returns non-2xx answers for the caller to map', async () => {
    const server = await startServer((_req, res) => {
      res.statusCode = 429;
      res.end('slow down');
    });
    const response = await client.request(server.url, { trustedHosts: ['127.0.0.1'] });
    expect(response.status).toBe(429);
    expect(await response.text()).toBe('slow down');
  });

  it('a refused connection is a network failure', async () => {
    const server = await startServer((_req, res) => res.end());
    const url = server.url;
    await server.close();
    servers.length = 0;
    await expectFailure(client.request(url, { trustedHosts: ['127.0.0.1'] }), 'network');
  });
});

describe('SSRF guard (bad-input test 20)', () => {
  let server: TestServer;
  beforeAll(async () => {
    // Never reached: it proves that blocked requests open zero connections to loopback.
    server = await startServer((_req, res) => res.end('should never be served'));
    servers.splice(servers.indexOf(server), 1);
    return () => server.close();
  });

  it.each([
    ['loopback', (port: number) => `http://127.0.0.1:${port}/`],
    ['IPv6 loopback', (port: number) => `http://[::1]:${port}/`],
    ['IPv4-mapped loopback', (port: number) => `http://[::ffff:127.0.0.1]:${port}/`],
    ['decimal loopback', (port: number) => `http://2130706433:${port}/`],
    ['octal loopback', (port: number) => `http://0177.0.0.1:${port}/`],
    ['hex loopback', (port: number) => `http://0x7f.1:${port}/`],
    ['percent-encoded loopback', (port: number) => `http://%31%32%37.0.0.1:${port}/`],
    ['0.0.0.0', (port: number) => `http://0.0.0.0:${port}/`],
    ['cloud metadata', () => 'http://169.254.169.254/latest/meta-data/'],
    ['RFC1918', () => 'http://10.0.0.1/'],
    ['CGNAT', () => 'http://100.64.0.1/'],
    ['a name resolving to a private address', () => 'http://internal.example/'],
    ['a name with one private address among public ones', () => 'https://mixed.example/'],
    ['a name resolving to mapped metadata', () => 'http://metadata.example/'],
  ])('blocks %s with no connection', async (_name, url) => {
    const before = server.connections;
    await expectFailure(client.request(url(server.port), { timeoutMs: 2000 }), 'blocked_address');
    expect(server.connections).toBe(before);
  });

  it.each(['file:///etc/passwd', 'gopher://127.0.0.1:70/_GET', 'data:text/plain,hi', 'ftp://example.com/x', 'javascript:alert(1)'])(
    'blocks the scheme of %s',
    async (url) => {
      await expectFailure(client.request(url), 'blocked_scheme');
    },
  );

  it('an unparsable URL is invalid_url and its text is not echoed', async () => {
    const error = await expectFailure(client.request('http://exa mple.com/bot123:SECRET/'), 'invalid_url');
    expect(error.message).not.toContain('SECRET');
  });

  it('a host outside trustedHosts is refused before DNS', async () => {
    lookups.length = 0;
    await expectFailure(client.request('https://evil.example/', { trustedHosts: ['api.example', '.fbcdn.net'] }), 'untrusted_host');
    expect(lookups).toEqual([]);
  });

  it('never puts tokens from the URL into error messages', async () => {
    const error = await failure(client.request(`http://127.0.0.1:${server.port}/bot123:SECRET/getFile?access_token=SECRET2`));
    expect(error.message).not.toMatch(/SECRET/);
  });

  it('logs a blocked request with its host only: no path, query or credential', async () => {
    const lines: string[] = [];
    const logger = createLogger('debug', { write: (line: string) => void lines.push(line) });
    const logged = createHttpClient({ lookup, logger });
    await failure(
      logged.request(`http://127.0.0.1:${server.port}/bot123:SECRET/x?access_token=SECRET2`, {
        credentialHeaders: { authorization: 'Bearer SECRET3' },
      }),
    );
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ msg: 'outbound request blocked', host: '127.0.0.1', reason: 'blocked_address' });
    expect(lines.join('')).not.toMatch(/SECRET/);
  });

  it('an unresolvable name is a network failure', async () => {
    await expectFailure(client.request('http://nowhere.example/'), 'network');
  });
});

describe('redirects', () => {
  it('a redirect from a trusted host to an untrusted 127.0.0.2 is blocked, with zero connections there', async () => {
    const target = await startServer((_req, res) => res.end('secret internal page'), '127.0.0.2');
    const origin = await startServer((_req, res) => {
      res.writeHead(302, { location: `${target.url}/admin` });
      res.end();
    });
    await expectFailure(
      client.request(origin.url, { trustedHosts: ['127.0.0.1'], credentialHeaders: { authorization: 'Bearer T0KEN' } }),
      'untrusted_host',
    );
    expect(target.connections).toBe(0);
  });

  it('credentials go to the named trusted origin only: dropped on a redirect to another trusted host', async () => {
    const other = await startServer((_req, res) => res.end('media bytes'));
    const origin = await startServer((req, res) => {
      if (req.url === '/same') return void res.writeHead(302, { location: '/media' }).end();
      res.writeHead(302, { location: `http://other.example:${other.port}/file` }).end();
    });
    const response = await client.request(`${origin.url}/same`, {
      trustedHosts: ['127.0.0.1', 'other.example'],
      credentialHeaders: { Authorization: 'Bearer T0KEN' },
      headers: { cookie: 'session=1', accept: 'image/*' },
    });
    expect(await response.text()).toBe('media bytes');
    expect(response.url).toBe(`http://other.example:${other.port}/file`);
    const [first, sameOrigin] = origin.requests;
    expect(first!.headers.authorization).toBe('Bearer T0KEN');
    expect(sameOrigin!.headers.authorization).toBe('Bearer T0KEN'); // same-origin hop keeps them
    const crossOrigin = other.requests[0]!;
    expect(crossOrigin.headers.authorization).toBeUndefined();
    expect(crossOrigin.headers.cookie).toBeUndefined();
    expect(crossOrigin.headers.accept).toBe('image/*');
  });

  it('credential headers are never sent to a host that is not trusted', async () => {
    const server = await startServer((_req, res) => res.end());
    await (await client.request(server.url, { trustedHosts: ['.example', '127.0.0.1'], credentialHeaders: { authorization: 'x' } })).text();
    expect(server.requests[0]!.headers.authorization).toBe('x');
    // Same server, reached through a name that is only trusted via a suffix entry: still trusted.
    await (await client.request(`http://api.example:${server.port}/`, { trustedHosts: ['.example'], credentialHeaders: { authorization: 'y' } })).text();
    expect(server.requests[1]!.headers.authorization).toBe('y');
  });

  it('more than maxRedirects fails with too_many_redirects', async () => {
    const server = await startServer((req, res) => {
      const hop = Number(req.url?.slice(1) ?? 0);
      res.writeHead(302, { location: `/${hop + 1}` }).end();
    });
    await expectFailure(client.request(`${server.url}/0`, { trustedHosts: ['127.0.0.1'] }), 'too_many_redirects');
    expect(server.requests.map((r) => r.url)).toEqual(['/0', '/1', '/2', '/3']);
    await expectFailure(client.request(`${server.url}/0`, { trustedHosts: ['127.0.0.1'], maxRedirects: 0 }), 'too_many_redirects');
  });

  it('follows up to maxRedirects and reports the final URL', async () => {
    const server = await startServer((req, res) => {
      if (req.url === '/final') return void res.end('done');
      res.writeHead(301, { location: req.url === '/a' ? '/b' : '/final' }).end();
    });
    const response = await client.request(`${server.url}/a`, { trustedHosts: ['127.0.0.1'], maxRedirects: 2 });
    expect(await response.text()).toBe('done');
    expect(response.url).toBe(`${server.url}/final`);
  });

  it('303 turns a POST into a GET without body; 307 keeps method and body', async () => {
    const server = await startServer((req, res) => {
      if (req.url === '/see-other') return void res.writeHead(303, { location: '/result' }).end();
      if (req.url === '/temporary') return void res.writeHead(307, { location: '/result' }).end();
      res.end();
    });
    const trustedHosts = ['127.0.0.1'];
    await (await client.request(`${server.url}/see-other`, { method: 'POST', body: 'payload', trustedHosts })).text();
    await (await client.request(`${server.url}/temporary`, { method: 'POST', body: 'payload', trustedHosts })).text();
    const [, afterSeeOther, , afterTemporary] = server.requests;
    expect(afterSeeOther).toMatchObject({ method: 'GET', body: '' });
    expect(afterSeeOther!.headers['content-type']).toBeUndefined();
    expect(afterTemporary).toMatchObject({ method: 'POST', body: 'payload' });
  });

  it('a redirect to file:// is blocked', async () => {
    const server = await startServer((_req, res) => res.writeHead(302, { location: 'file:///etc/passwd' }).end());
    await expectFailure(client.request(server.url, { trustedHosts: ['127.0.0.1'] }), 'blocked_scheme');
  });
});

describe('body caps, bombs and time (bad-input test 21)', () => {
  const MB = 1024 * 1024;
  const bombs: Record<string, Buffer> = {};

  async function compressZeros(total: number, compressor: Gzip | BrotliCompress): Promise<Buffer> {
    const zeros = Buffer.alloc(MB);
    const out: Buffer[] = [];
    compressor.on('data', (chunk: Buffer) => out.push(chunk));
    const ended = once(compressor, 'end');
    for (let written = 0; written < total; written += zeros.length) {
      if (!compressor.write(zeros)) await once(compressor, 'drain');
    }
    compressor.end();
    await ended;
    return Buffer.concat(out);
  }

  beforeAll(async () => {
    bombs.gzip = await compressZeros(100 * MB, createGzip({ level: 9 }));
    bombs['gzip, gzip'] = gzipSync(bombs.gzip, { level: 9 });
    bombs.br = await compressZeros(100 * MB, createBrotliCompress({ params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 4 } }));
  });

  it.each(['gzip', 'gzip, gzip', 'br'])('a 100 MB bomb with Content-Encoding %s stops at a 1 MB cap, memory flat', async (encoding) => {
    const bomb = bombs[encoding]!;
    expect(bomb.length).toBeLessThan(110 * 1024); // ~100 KB of gzip; a few hundred bytes when layered or brotli
    const server = await startServer((_req, res) => {
      res.writeHead(200, { 'content-encoding': encoding, 'content-length': bomb.length });
      res.end(bomb);
    });
    globalThis.gc?.();
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
    const started = performance.now();
    let received = 0;
    try {
      const response = await client.request(server.url, { trustedHosts: ['127.0.0.1'], maxBytes: MB });
      const error = await failure(
        (async () => {
          for await (const chunk of response.stream()) received += chunk.byteLength;
        })(),
      );
      expect(error.reason).toBe('too_large');
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, process.memoryUsage().rss);
    expect(received).toBeLessThanOrEqual(MB);
    expect(performance.now() - started).toBeLessThan(10_000); // "quickly": decoding 100 MB would not be
    expect(peak - baseline).toBeLessThan(64 * MB); // the decoded 100 MB never sat in memory
  });

  it('a chunked body past maxBytes fails with too_large', async () => {
    const server = await startServer((_req, res) => {
      res.write(Buffer.alloc(600));
      res.end(Buffer.alloc(600));
    });
    const response = await client.request(server.url, { trustedHosts: ['127.0.0.1'], maxBytes: 1000 });
    await expectFailure(response.bytes(), 'too_large');
  });

  it('maxBytes 0 accepts an empty body only', async () => {
    const server = await startServer((req, res) => {
      if (req.url === '/chunked') res.write('x'); // no Content-Length: caught while reading
      res.end(req.url === '/declared' ? 'x' : '');
    });
    const trustedHosts = ['127.0.0.1'];
    expect((await (await client.request(`${server.url}/empty`, { trustedHosts, maxBytes: 0 })).bytes()).length).toBe(0);
    await expectFailure(client.request(`${server.url}/declared`, { trustedHosts, maxBytes: 0 }), 'too_large');
    const response = await client.request(`${server.url}/chunked`, { trustedHosts, maxBytes: 0 });
    await expectFailure(response.text(), 'too_large');
  });

  it('a Content-Length over the cap fails before the body is read', async () => {
    // Headers only, body never sent: reading would hang until the timeout.
    const server = await startServer((_req, res) => {
      res.writeHead(200, { 'content-length': String(50 * MB) });
      res.flushHeaders();
    });
    await expectFailure(client.request(server.url, { trustedHosts: ['127.0.0.1'], maxBytes: MB, timeoutMs: 10_000 }), 'too_large');
  });

  it('a slow-drip body times out (the timeout covers the body)', async () => {
    const server = await startServer((_req, res) => {
      res.writeHead(200);
      const drip = setInterval(() => res.write('x'), 20);
      res.on('close', () => clearInterval(drip));
    });
    const response = await client.request(server.url, { trustedHosts: ['127.0.0.1'], timeoutMs: 300 });
    await expectFailure(response.bytes(), 'timeout');
  });

  it('a response whose body is never read is torn down at the timeout without an unhandled error', async () => {
    let closed = false;
    const server = await startServer((_req, res) => {
      res.writeHead(200);
      res.write('x');
      res.on('close', () => (closed = true));
    });
    const response = await client.request(server.url, { trustedHosts: ['127.0.0.1'], timeoutMs: 100 });
    expect(response.status).toBe(200);
    // The outcome, not a time: under load the close can come well after the 100 ms timeout.
    for (let waited = 0; !closed && waited < 10_000; waited += 25) await new Promise((resolve) => setTimeout(resolve, 25));
    expect(closed).toBe(true);
  });

  it('a server that never answers times out', async () => {
    const server = await startServer(() => undefined);
    await expectFailure(client.request(server.url, { trustedHosts: ['127.0.0.1'], timeoutMs: 200 }), 'timeout');
  });

  it("the caller's abort stops a pending request and a body being read", async () => {
    const server = await startServer((req, res) => {
      if (req.url === '/body') {
        res.writeHead(200);
        res.write('partial');
      }
    });
    const controller = new AbortController();
    const pending = client.request(`${server.url}/hang`, { trustedHosts: ['127.0.0.1'], signal: controller.signal });
    setTimeout(() => controller.abort(new Error('shutdown')), 50);
    const error = await expectFailure(pending, 'aborted');
    expect((error.cause as Error).message).toBe('shutdown');

    const reading = new AbortController();
    const response = await client.request(`${server.url}/body`, { trustedHosts: ['127.0.0.1'], signal: reading.signal });
    const body = response.bytes();
    setTimeout(() => reading.abort(), 50);
    await expectFailure(body, 'aborted');
  });

  it('an already-aborted signal opens no connection', async () => {
    const server = await startServer((_req, res) => res.end());
    await expectFailure(client.request(server.url, { trustedHosts: ['127.0.0.1'], signal: AbortSignal.abort() }), 'aborted');
    expect(server.connections).toBe(0);
  });
});
