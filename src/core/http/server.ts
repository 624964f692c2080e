/**
 * The HTTP server: listen, the slow-client timeouts and the connection cap. Node checks the
 * header and request timeouts only every `connectionsCheckingInterval` (30 s by default), so a
 * trickling client would outlive `headersTimeoutMs` by up to half a minute: we check every
 * second. The cap stops an idle-socket flood before it exhausts file descriptors: a new
 * connection over it closes the oldest connection with no request in flight (a flood of idle
 * sockets cannot lock out a webhook), or, when every connection is busy, is itself refused.
 */
import type { AddressInfo, Socket } from 'node:net';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { serve, type Http2Bindings, type HttpBindings } from '@hono/node-server';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from 'pino';

/** `http.*` settings the server uses. */
export interface HttpServerSettings {
  host: string;
  port: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxConnections: number;
}

/** What `listenHttp` needs. */
export interface HttpServerOptions {
  settings: HttpServerSettings;
  fetch(request: Request, env: HttpBindings | Http2Bindings): Promise<Response> | Response;
  logger: Logger;
  registry: Registry;
}

/** A listening server and the URL it is reachable at. */
export interface HttpServer {
  server: Server;
  url: string;
}

/** How often Node looks for connections past their header or request timeout. */
const CHECK_INTERVAL_MS = 1_000;
/** At most one warn line per this long about refused connections. */
const WARN_EVERY_MS = 10_000;

/** Starts listening; rejects if the port cannot be bound. */
export async function listenHttp(options: HttpServerOptions): Promise<HttpServer> {
  const { settings } = options;
  const server = await new Promise<Server>((resolve, reject) => {
    const created = serve(
      {
        fetch: options.fetch,
        hostname: settings.host,
        port: settings.port,
        serverOptions: {
          connectionsCheckingInterval: CHECK_INTERVAL_MS,
          headersTimeout: settings.headersTimeoutMs,
          requestTimeout: settings.requestTimeoutMs,
          keepAliveTimeout: settings.keepAliveTimeoutMs,
        },
      },
      () => resolve(created),
    ) as Server;
    created.once('error', reject);
  });
  server.on('error', (error) => options.logger.error({ err: error }, 'http server error'));
  capConnections(server, settings.maxConnections, options.logger, options.registry);
  const address = server.address() as AddressInfo;
  const host = settings.host;
  const reachable = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return { server, url: `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${address.port}` };
}

/** Tracks open connections and requests in flight on each; enforces the cap (see the file comment). */
function capConnections(server: Server, max: number, logger: Logger, registry: Registry): void {
  // Insertion order is age order: the first idle entry is the oldest idle connection.
  const open = new Map<Socket, { inFlight: number }>();
  new Gauge({
    name: 'omnibus_http_connections',
    help: 'Open HTTP connections',
    registers: [registry],
    collect() {
      this.set(open.size);
    },
  });
  const refused = new Counter({
    name: 'omnibus_http_connections_rejected_total',
    help: 'Connections closed by the connection cap: evicted_idle (an idle one made room) or over_cap (every one was busy)',
    labelNames: ['reason'],
    registers: [registry],
  });
  let unreported = 0;
  let lastWarn = 0;
  const warn = () => {
    unreported++;
    const now = Date.now();
    if (now - lastWarn < WARN_EVERY_MS) return;
    logger.warn({ closed: unreported, maxConnections: max }, 'http connection cap reached; closing idle or new connections (raise http.maxConnections or look for a flood)');
    lastWarn = now;
    unreported = 0;
  };

  server.on('connection', (socket: Socket) => {
    if (open.size >= max) {
      const idle = [...open].find(([, state]) => state.inFlight === 0)?.[0];
      if (!idle) {
        refused.inc({ reason: 'over_cap' });
        warn();
        socket.destroy();
        return;
      }
      refused.inc({ reason: 'evicted_idle' });
      warn();
      open.delete(idle);
      idle.destroy();
    }
    open.set(socket, { inFlight: 0 });
    socket.once('close', () => open.delete(socket));
  });
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const state = open.get(request.socket);
    if (!state) return;
    state.inFlight++;
    response.once('close', () => state.inFlight--);
  });
}
