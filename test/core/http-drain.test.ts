/**
 * The HTTP drain on shutdown: an idle keep-alive connection is not closed while requests still
 * come in on other connections (its client may pick it for the next one at any moment); it is
 * closed once the whole server has been quiet for the grace, and new connections are refused.
 */
import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { trackConnections } from '../../src/core/http/drain.ts';

let server: Server | null = null;
const sockets: Socket[] = [];

afterEach(() => {
  for (const socket of sockets) socket.destroy();
  sockets.length = 0;
  server?.closeAllConnections();
  server = null;
});

/** A raw keep-alive client socket, with when it was closed by the server. */
async function client(port: number): Promise<{ socket: Socket; closedAt: () => number | null; get(): Promise<string> }> {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  let closedAt: number | null = null;
  socket.on('close', () => (closedAt = Date.now()));
  socket.on('error', () => {});
  return {
    socket,
    closedAt: () => closedAt,
    get: () =>
      new Promise<string>((resolve) => {
        socket.once('data', (chunk) => resolve(chunk.toString()));
        socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
      }),
  };
}

describe('http drain', () => {
  it('keeps an idle connection open while another still carries requests, then closes it once all is quiet', async () => {
    server = createServer((_request, response) => response.end('ok'));
    const tracked = trackConnections(server);
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', () => resolve()));
    const { port } = server.address() as AddressInfo;
    const idle = await client(port);
    const busy = await client(port);
    expect(await idle.get()).toContain('200 OK');

    const started = Date.now();
    const drained = tracked.drain(5_000);
    // The busy client goes on asking for 1.5 s, well past the grace an idle connection gets.
    let answers = 0;
    while (Date.now() - started < 1_500) {
      if ((await busy.get()).includes('200 OK')) answers++;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(answers).toBeGreaterThan(10);
    expect(idle.closedAt()).toBeNull();
    // A new connection is refused: the listener is closed.
    await expect(new Promise((resolve, reject) => connect(port, '127.0.0.1').once('connect', resolve).once('error', reject))).rejects.toMatchObject({ code: 'ECONNREFUSED' });

    await drained;
    const quietAt = started + 1_500;
    expect(idle.closedAt()).not.toBeNull();
    expect(idle.closedAt()!).toBeGreaterThanOrEqual(quietAt);
    expect(idle.closedAt()! - quietAt).toBeLessThan(2_000);
  });
});
