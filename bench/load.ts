/**
 * A small closed-loop load generator: `concurrency` workers, each sending its next prepared
 * request as soon as the previous answer is fully read, over keep-alive `node:http` sockets.
 * Bodies and signatures are prepared before the clock starts, so the figures measure the
 * server, not the sender's HMAC. It runs in the same process as the servers on purpose: on a
 * 2-core box a separate generator would fight them for the same cores anyway, and the
 * baseline server pays exactly the same generator cost.
 */
import { Agent, request } from 'node:http';

/** One prepared POST. */
export interface PreparedRequest {
  path: string;
  headers: Record<string, string>;
  body: Buffer;
}

/** What one load run measured. */
export interface LoadResult {
  requests: number;
  concurrency: number;
  /** Wall time from the first request sent to the last answer read, ms. */
  elapsedMs: number;
  requestsPerSecond: number;
  /** Latency percentiles (request written → answer fully read), ms. */
  p50: number;
  p95: number;
  p99: number;
  max: number;
  /** Answers outside 200–299 plus transport errors. */
  non2xx: number;
  /** performance.now() when the first request was sent (for publish-lag timing). */
  startedAt: number;
  /** performance.now() when the last answer was read. */
  finishedAt: number;
}

/** Sends every request in `requests` to `baseUrl` with `concurrency` in flight; never throws on a bad status. */
export async function runLoad(baseUrl: string, requests: ReadonlyArray<PreparedRequest>, concurrency: number): Promise<LoadResult> {
  const url = new URL(baseUrl);
  // One socket per worker, reused: what a platform's webhook sender with keep-alive does.
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency });
  const latencies = new Float64Array(requests.length);
  let next = 0;
  let non2xx = 0;
  const startedAt = performance.now();
  const worker = async () => {
    for (;;) {
      const index = next++;
      if (index >= requests.length) return;
      const prepared = requests[index]!;
      const sentAt = performance.now();
      const status = await send(agent, url, prepared);
      latencies[index] = performance.now() - sentAt;
      if (status < 200 || status > 299) non2xx++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, requests.length) }, worker));
  const finishedAt = performance.now();
  agent.destroy();
  const sorted = latencies.sort();
  const elapsedMs = finishedAt - startedAt;
  return {
    requests: requests.length,
    concurrency,
    elapsedMs,
    requestsPerSecond: requests.length / (elapsedMs / 1000),
    p50: percentile(sorted, 0.5),
    p95: percentile(sorted, 0.95),
    p99: percentile(sorted, 0.99),
    max: sorted[sorted.length - 1] ?? 0,
    non2xx,
    startedAt,
    finishedAt,
  };
}

/** Resolves with the status code (0 on a transport error) once the answer has been read. */
function send(agent: Agent, url: URL, prepared: PreparedRequest): Promise<number> {
  return new Promise((resolve) => {
    const req = request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        method: 'POST',
        path: prepared.path,
        headers: { ...prepared.headers, 'content-length': String(prepared.body.length) },
      },
      (res) => {
        res.resume();
        res.once('end', () => resolve(res.statusCode ?? 0));
        res.once('error', () => resolve(0));
      },
    );
    // Counted as a failure, not thrown: a benchmark reports errors, it does not stop at the first.
    req.once('error', () => resolve(0));
    req.end(prepared.body);
  });
}

/** Nearest-rank percentile of an ascending array. */
function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}
