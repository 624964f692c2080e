/**
 * An open-loop load generator: request i is due at start + i / rate, whether or not earlier
 * answers came back (what a platform delivering webhooks does), so a slow server shows as
 * latency instead of being given time to catch up. Latency runs from the moment a request was
 * due, not from when it was written, so time spent queued behind a stalled generator counts
 * too (no coordinated omission). Time to published: due moment → the event seen on NATS by a
 * plain subscription to its subject, matched on the platform message id.
 */
import { Agent, request } from 'node:http';
import type { NatsConnection } from '@nats-io/nats-core';
import type { PreparedRequest } from './load.ts';

/** What one open-loop run measured. */
export interface OpenLoopResult {
  rate: number;
  requests: number;
  /** Requests per second actually sent (below `rate` when the generator itself fell behind). */
  sentRate: number;
  answerP50: number;
  answerP99: number;
  answerMax: number;
  non2xx: number;
  publishedP50: number;
  publishedP99: number;
  /** Answered 2xx but not seen on NATS within the wait after the run. */
  unpublished: number;
  elapsedMs: number;
  /** The largest answer time of each 200 ms of the run (by when requests were due), ms. */
  windowMaxMs: number[];
}

/** The platform message id a bench webhook carries (`wamid.BENCH...`). */
function messageIdOf(prepared: PreparedRequest): string {
  const text = prepared.body.toString('utf8');
  const at = text.indexOf('"id":"wamid.');
  return text.slice(at + 6, text.indexOf('"', at + 6));
}

const EXTERNAL_ID = /"externalId":\s*"(wamid\.[^"]+)"/;

export async function runOpenLoop(options: {
  baseUrl: string;
  requests: ReadonlyArray<PreparedRequest>;
  rate: number;
  nc: NatsConnection;
  subject: string;
  /** How long to wait after the last answer for events still on their way. */
  publishWaitMs?: number;
}): Promise<OpenLoopResult> {
  const { requests, rate } = options;
  const url = new URL(options.baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: 512, maxFreeSockets: 512 });
  const ids = requests.map(messageIdOf);
  const index = new Map(ids.map((id, i) => [id, i]));
  const due = new Float64Array(requests.length);
  const answered = new Float64Array(requests.length).fill(Number.NaN);
  const published = new Float64Array(requests.length).fill(Number.NaN);
  let seen = 0;
  const sub = options.nc.subscribe(options.subject, {
    callback: (_err, msg) => {
      // The payload is jsonb's text form (keys reordered, a space after each colon): find the
      // message's own id without parsing the whole event.
      const found = EXTERNAL_ID.exec(msg.string());
      if (!found) return;
      const i = index.get(found[1]!);
      if (i !== undefined && Number.isNaN(published[i]!)) {
        published[i] = performance.now();
        seen++;
      }
    },
  });
  await options.nc.flush();
  let non2xx = 0;
  let ok = 0;
  const inFlight: Promise<void>[] = [];
  const start = performance.now();
  for (let i = 0; i < requests.length; i++) {
    due[i] = start + (i * 1000) / rate;
    const wait = due[i]! - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    inFlight.push(
      send(agent, url, requests[i]!).then((status) => {
        answered[i] = performance.now();
        if (status < 200 || status > 299) non2xx++;
        else ok++;
      }),
    );
  }
  const sentAt = performance.now();
  await Promise.all(inFlight);
  const finished = performance.now();
  const deadline = finished + (options.publishWaitMs ?? 30_000);
  while (seen < ok && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  sub.unsubscribe();
  agent.destroy();
  const answer = Float64Array.from(answered, (t, i) => t - due[i]!).sort();
  const publishedLatency = Float64Array.from(ids.map((_, i) => published[i]! - due[i]!).filter((v) => !Number.isNaN(v))).sort();
  return {
    rate,
    requests: requests.length,
    sentRate: requests.length / ((sentAt - start) / 1000),
    answerP50: percentile(answer, 0.5),
    answerP99: percentile(answer, 0.99),
    answerMax: answer[answer.length - 1] ?? 0,
    non2xx,
    publishedP50: percentile(publishedLatency, 0.5),
    publishedP99: percentile(publishedLatency, 0.99),
    unpublished: ok - seen,
    elapsedMs: finished - start,
    windowMaxMs: windowMaxima(answered, due, start, 200),
  };
}

/** POSTs one request and resolves with its status (0 on a transport error). */
export function send(agent: Agent, url: URL, prepared: PreparedRequest): Promise<number> {
  return new Promise((resolve) => {
    const req = request(
      { agent, host: url.hostname, port: url.port, method: 'POST', path: prepared.path, headers: { ...prepared.headers, 'content-length': String(prepared.body.length) } },
      (res) => {
        res.resume();
        res.once('end', () => resolve(res.statusCode ?? 0));
        res.once('error', () => resolve(0));
      },
    );
    req.once('error', () => resolve(0));
    req.end(prepared.body);
  });
}

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

/** The largest answer time among the requests due in each `windowMs` after `start`. */
function windowMaxima(answered: Float64Array, due: Float64Array, start: number, windowMs: number): number[] {
  const maxima: number[] = [];
  for (let i = 0; i < due.length; i++) {
    const window = Math.floor((due[i]! - start) / windowMs);
    while (maxima.length <= window) maxima.push(0);
    maxima[window] = Math.max(maxima[window]!, answered[i]! - due[i]!);
  }
  return maxima.map((ms) => Math.round(ms));
}
