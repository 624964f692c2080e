/**
 * Draining the HTTP server on shutdown without resetting a connection that carries a request.
 *
 * `http.Server.close()` also destroys every keep-alive connection it considers idle, at once.
 * A connection is "idle" until Node has parsed its next request, so one whose next request is
 * already sent but still unread in the socket buffer is reset under the client. The window is
 * as long as the event loop is busy, and under load it is busy all the time (a SIGTERM then
 * reset every connection in flight).
 *
 * So the drain stops listening only (new connections are refused), lets every connection with
 * a request finish (its answer carries `connection: close`, see daemon.ts, so the client
 * closes it), and closes a connection only once it, and every other one, has been idle for
 * `IDLE_GRACE_MS` and it then read nothing across one more turn of the event loop (so a request
 * already sent was read).
 * What is left at the deadline is cut.
 */
import { Server as NetServer, type Socket } from 'node:net';
import type { Server } from 'node:http';

/** How long a connection with no request in progress is kept open during the drain. */
const IDLE_GRACE_MS = 500;
const POLL_MS = 25;

interface ConnectionState {
  inFlight: number;
  lastActive: number;
  /** `bytesRead` when the drain first found it idle; null until then or after new activity. */
  markedAt: number | null;
}

/** Follows the server's connections; call `drain` to stop it. */
export function trackConnections(server: Server): { drain(deadlineMs: number): Promise<void> } {
  const connections = new Map<Socket, ConnectionState>();
  server.on('connection', (socket: Socket) => {
    connections.set(socket, { inFlight: 0, lastActive: Date.now(), markedAt: null });
    socket.once('close', () => connections.delete(socket));
  });
  server.on('request', (request, response) => {
    const state = connections.get(request.socket);
    if (!state) return;
    state.inFlight++;
    state.lastActive = Date.now();
    state.markedAt = null;
    response.once('close', () => {
      state.inFlight--;
      state.lastActive = Date.now();
    });
  });

  return {
    async drain(deadlineMs) {
      // Connections the kernel already accepted while the loop was busy are taken in first:
      // closing the listener resets whatever is still in its backlog. I/O polls until one takes
      // in nothing new (a busy turn lets more pile up behind it), at most 10.
      let taken = 0;
      const take = () => taken++;
      server.on('connection', take);
      for (let poll = 0; poll < 10; poll++) {
        taken = 0;
        await new Promise((resolve) => setImmediate(resolve));
        if (taken === 0) break;
      }
      server.off('connection', take);
      // net.Server's close: stop accepting, without http.Server's immediate cut of idle connections.
      const closed = new Promise<void>((resolve) => NetServer.prototype.close.call(server, () => resolve()));
      const deadline = Date.now() + deadlineMs;
      // A connection idle since before the signal still gets the grace: its request may be in the buffer.
      const start = Date.now();
      for (const state of connections.values()) state.lastActive = Math.max(state.lastActive, start - IDLE_GRACE_MS / 2);
      while (connections.size > 0 && Date.now() < deadline) {
        const now = Date.now();
        // While requests still come in on any connection, an idle one is likely to carry the
        // next (a client's pool picks any idle socket): closing it then races that request.
        // Each answer says `connection: close`, so busy clients close their sockets themselves;
        // idle ones are closed once the whole server has been quiet for the grace.
        let busiest = 0;
        for (const state of connections.values()) busiest = Math.max(busiest, state.inFlight > 0 ? now : state.lastActive);
        if (now - busiest < IDLE_GRACE_MS) {
          await new Promise((resolve) => setTimeout(resolve, POLL_MS));
          continue;
        }
        for (const [socket, state] of connections) {
          if (state.inFlight > 0 || now - state.lastActive < IDLE_GRACE_MS) continue;
          // Closed only if still idle after an I/O poll with nothing read: a busy loop may not
          // have read what is already in the socket buffer, however long it has been.
          if (state.markedAt === socket.bytesRead) socket.destroy();
          else state.markedAt = socket.bytesRead;
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
      for (const socket of connections.keys()) socket.destroy();
      await closed;
    },
  };
}
