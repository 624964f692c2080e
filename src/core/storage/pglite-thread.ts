/**
 * The embedded PGlite runs in a worker thread (pglite-worker.mjs) and speaks the PostgreSQL
 * wire protocol to this thread, where postgres.js talks to it through `socket()` exactly as it
 * talks to a PostgreSQL server over TCP. WebAssembly Postgres executes each statement
 * synchronously: on the daemon's thread every transaction stopped HTTP, timers and NATS for
 * its whole duration; in a thread of its own it overlaps them.
 *
 * A worker that dies (a WebAssembly abort, a throw) never ends the daemon: its connections
 * fail their queries, the next connection attempts fail too (so /readyz says not ready), and
 * after `restartDelayMs` the next attempt starts a new worker on the same directory.
 */
import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { PGLITE_SETTINGS } from './pglite-initdb.ts';

const WORKER = new URL('./pglite-worker.mjs', import.meta.url);
/** How long a clean close may take before the worker is terminated. */
const CLOSE_TIMEOUT_MS = 15_000;

/** What a worker posts (see pglite-worker.mjs). */
type FromWorker =
  | { type: 'ready' }
  | { type: 'failed'; reason: string }
  | { type: 'fatal'; reason: string }
  | { type: 'data'; id: number; bytes: ArrayBuffer }
  | { type: 'closed'; id: number };

/** The socket-like object postgres.js drives (the calls it makes on a net.Socket). */
export class ThreadSocket extends EventEmitter {
  readyState: 'open' | 'closed' = 'open';
  readonly host = 'pglite';
  readonly port = 0;

  constructor(
    readonly id: number,
    private readonly worker: Worker | null,
    private readonly forget: (socket: ThreadSocket) => void,
  ) {
    super();
  }

  /**
   * A connection that fails as a refused TCP connection does ('error', then 'close'). Throwing
   * from the factory instead would leave postgres.js's connection "connecting" for good, and
   * every later query waiting for it.
   */
  static refused(error: Error): ThreadSocket {
    const socket = new ThreadSocket(0, null, () => {});
    socket.close(true, false, error);
    return socket;
  }

  write(chunk: Uint8Array | string, callback?: (error?: Error | null) => void): boolean {
    if (this.readyState === 'open' && this.worker) {
      // A copy of its own: postgres.js's buffers may be slices of a shared pool.
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : new Uint8Array(chunk);
      this.worker.postMessage({ type: 'data', id: this.id, bytes: bytes.buffer }, [bytes.buffer as ArrayBuffer]);
    }
    if (callback) queueMicrotask(() => callback(this.readyState === 'open' ? null : new Error('socket closed')));
    return true;
  }

  end(chunk?: Uint8Array): this {
    if (chunk) this.write(chunk);
    this.close(false, true);
    return this;
  }

  destroy(): this {
    this.close(false, true);
    return this;
  }

  setKeepAlive(): this {
    return this;
  }

  setNoDelay(): this {
    return this;
  }

  // Backpressure applies to COPY streams only; the thread reads everything it is sent anyway.
  pause(): this {
    return this;
  }

  resume(): this {
    return this;
  }

  /** Answer bytes from the database. */
  received(bytes: ArrayBuffer): void {
    if (this.readyState === 'open') this.emit('data', Buffer.from(bytes));
  }

  /** Ends the socket; `tell` lets the worker know (not when the worker ended it or is gone). */
  close(hadError: boolean, tell: boolean, error?: Error): void {
    if (this.readyState === 'closed') return;
    this.readyState = 'closed';
    this.forget(this);
    if (tell) this.worker?.postMessage({ type: 'end', id: this.id });
    // Like a net.Socket: the events come after the call that caused them returned.
    setImmediate(() => {
      if (error && this.listenerCount('error') > 0) this.emit('error', error);
      this.emit('close', hadError);
    });
  }
}

/** The embedded database's thread, restarted after a crash; sockets for postgres.js. */
export class PgliteThread {
  private worker: Worker | null = null;
  private starting: Promise<Worker> | null = null;
  private readonly sockets = new Map<number, ThreadSocket>();
  private nextId = 1;
  private closing = false;
  /** Set when a worker died: why, and when a new one may be started. */
  private down: { reason: string; until: number } | null = null;

  private constructor(
    private readonly dir: string,
    private readonly logger: Logger,
    private readonly restartDelayMs: number,
  ) {}

  /** Starts the thread on the data directory `dir` (which must exist) and waits until it is open. */
  static async start(dir: string, logger: Logger, options: { restartDelayMs?: number } = {}): Promise<PgliteThread> {
    const thread = new PgliteThread(dir, logger, options.restartDelayMs ?? 5_000);
    await thread.spawn();
    return thread;
  }

  /** The running worker, if any (tests terminate it to see a crash handled). */
  get current(): Worker | null {
    return this.worker;
  }

  /** postgres.js's `socket` option: a new connection to the database (never rejects). */
  socket = async (): Promise<ThreadSocket> => {
    let worker: Worker;
    try {
      worker = this.worker ?? (await this.restart());
    } catch (error) {
      return ThreadSocket.refused(Object.assign(error as Error, { code: 'CONNECTION_CLOSED' }));
    }
    const socket = new ThreadSocket(this.nextId++, worker, (s) => this.sockets.delete(s.id));
    this.sockets.set(socket.id, socket);
    return socket;
  };

  /** Closes the database cleanly (a checkpoint, so the next start needs no recovery) and ends the thread. */
  async close(): Promise<void> {
    this.closing = true;
    const worker = this.worker ?? (await this.starting?.catch(() => null)) ?? null;
    if (!worker) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage({ type: 'close' });
    const timer = setTimeout(() => {
      this.logger.warn({ component: 'db' }, 'the embedded database did not close in time; stopping its thread');
      void worker.terminate();
    }, CLOSE_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }

  private async restart(): Promise<Worker> {
    if (this.closing) throw new Error('the embedded database is closed');
    if (this.down && Date.now() < this.down.until) {
      throw new Error(`the embedded database stopped (${this.down.reason}); it is restarted in ${Math.ceil((this.down.until - Date.now()) / 1000)} s`);
    }
    if (!this.starting) this.logger.info({ component: 'db' }, 'restarting the embedded database');
    return this.spawn();
  }

  /** Starts a worker (one at a time) and resolves once its database is open. */
  private spawn(): Promise<Worker> {
    this.starting ??= new Promise<Worker>((resolve, reject) => {
      const worker = new Worker(WORKER, { workerData: { dir: this.dir, settings: PGLITE_SETTINGS } });
      let reason = '';
      let open = false;
      worker.on('message', (message: FromWorker) => {
        if (message.type === 'data') this.sockets.get(message.id)?.received(message.bytes);
        else if (message.type === 'closed') this.sockets.get(message.id)?.close(false, false);
        else if (message.type === 'ready') {
          open = true;
          this.worker = worker;
          this.down = null;
          resolve(worker);
        } else reason = message.reason;
      });
      worker.on('error', (error) => {
        reason ||= `${error.name}: ${error.message.split('\n', 1)[0]!.slice(0, 200)}`;
      });
      worker.once('exit', (code) => {
        this.starting = null;
        if (!open) {
          this.down = { reason: reason || `exit ${code}`, until: Date.now() + this.restartDelayMs };
          reject(new Error(`opening the embedded database failed: ${reason || `worker exit ${code}`}`));
          return;
        }
        this.worker = null;
        if (this.closing) return;
        this.down = { reason: reason || `exit ${code}`, until: Date.now() + this.restartDelayMs };
        this.logger.error({ component: 'db', reason: this.down.reason, code }, 'the embedded database thread stopped; queries fail until it is restarted');
        const error = Object.assign(new Error(`the embedded database thread stopped (${this.down.reason})`), { code: 'CONNECTION_CLOSED' });
        for (const socket of [...this.sockets.values()]) socket.close(true, false, error);
      });
    }).finally(() => {
      // Resolved or rejected: the next spawn is a new attempt (exit clears it as well).
      if (this.worker) this.starting = null;
    });
    return this.starting;
  }
}
