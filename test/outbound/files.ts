/**
 * Attachment sources for the outbound tests: a local file server reached under the name
 * `files.test` (the only name the test's HTTP client trusts, so it may be on loopback), and a
 * "private" server that counts every connection, to prove SSRF targets are never connected.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHttpClient, type HttpClient } from '../../src/core/http-client.ts';
import { systemLookup } from '../../src/core/net/host-guard.ts';

/** Bytes with the right magic numbers (file-type decides from these). */
export const BYTES = {
  jpg: Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01]), Buffer.alloc(500, 1)]),
  png: Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(500, 2)]),
  pdf: Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.alloc(500, 0x20)]),
  gif: Buffer.concat([Buffer.from('GIF89a'), Buffer.alloc(500, 3)]),
  elf: Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00]), Buffer.alloc(500, 0)]),
};

/** A running pair of servers. */
export interface FileServers {
  /** `http://files.test:<port>`: serves /photo.jpg, /doc.pdf, /elf.jpg, /big.jpg, /missing.jpg, /slow.jpg, /redirect?to=URL. */
  base: string;
  /** A loopback server that must never see a connection. */
  privatePort: number;
  /** Connections the private server saw. */
  privateConnections(): number;
  /** Requests the file server saw, by path. */
  requests: string[];
  /** The attachment client: trusts only `files.test` (mapped to 127.0.0.1); `internal.test` resolves to 10.0.0.1. */
  http: HttpClient;
  close(): Promise<void>;
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

/** Starts the file server and the private server. */
export async function startFileServers(): Promise<FileServers> {
  const requests: string[] = [];
  let connections = 0;
  const sockets = new Set<import('node:net').Socket>();
  const files = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://files.test');
    requests.push(url.pathname);
    const send = (type: string, body: Buffer) => res.writeHead(200, { 'content-type': type, 'content-length': body.length }).end(body);
    switch (url.pathname) {
      case '/photo.jpg':
        return send('image/jpeg', BYTES.jpg);
      case '/doc.pdf':
        return send('application/pdf', BYTES.pdf);
      case '/anim.gif':
        return send('image/gif', BYTES.gif);
      case '/elf.jpg':
        // Named and declared a JPEG; the bytes are an ELF executable.
        return send('image/jpeg', BYTES.elf);
      case '/big.jpg':
        return send('image/jpeg', Buffer.concat([BYTES.jpg, Buffer.alloc(6_000_000, 7)]));
      case '/slow.jpg':
        // Headers, a few bytes, then nothing: only a timeout ends it.
        res.writeHead(200, { 'content-type': 'image/jpeg' });
        res.write(BYTES.jpg.subarray(0, 10));
        return;
      case '/redirect':
        return res.writeHead(302, { location: url.searchParams.get('to') ?? '/' }).end();
      default:
        return res.writeHead(404).end('not found');
    }
  });
  files.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const hidden = createServer((_req, res) => res.end('secret'));
  hidden.on('connection', (socket) => {
    connections++;
    socket.destroy();
  });
  const filesPort = await listen(files);
  const privatePort = await listen(hidden);
  // The same port on IPv6 loopback where the host has it, so `[::1]` is watched too.
  const hidden6 = createServer();
  hidden6.on('connection', (socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => {
    hidden6.once('error', () => resolve());
    hidden6.listen(privatePort, '::1', () => resolve());
  });
  const real = createHttpClient({
    lookup: async (host) => {
      if (host === 'files.test') return [{ address: '127.0.0.1', family: 4 }];
      if (host === 'internal.test') return [{ address: '10.0.0.1', family: 4 }];
      return systemLookup(host);
    },
  });
  const http: HttpClient = {
    // Only the file server's own name is trusted (it lives on loopback); every other host,
    // including wherever it redirects, gets the production rules.
    request: (url, options) => real.request(url, new URL(url).hostname === 'files.test' ? { ...options, trustedHosts: ['files.test'] } : options),
  };
  return {
    base: `http://files.test:${filesPort}`,
    privatePort,
    privateConnections: () => connections,
    requests,
    http,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => files.close(() => resolve()));
      await new Promise<void>((resolve) => hidden.close(() => resolve()));
      if (hidden6.listening) await new Promise<void>((resolve) => hidden6.close(() => resolve()));
    },
  };
}
