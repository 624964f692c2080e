/**
 * What a webhook costs, beside how fast it goes: CPU time of the bench process and of the
 * PostgreSQL cluster (from /proc), and statements and round trips on the wire. The wire counts
 * come from a small TCP proxy between the daemon and PostgreSQL that reads the frontend
 * protocol: every Execute or simple Query message is a statement, and every time the client
 * speaks again after the server answered is a round trip (what the client waited for).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux everywhere). */
const TICKS_PER_SECOND = 100;

/** Fields 14–17 of /proc/<pid>/stat (utime, stime, cutime, cstime) in ms, and field 4 (ppid). */
function procTimes(pid: number): { own: number; children: number; ppid: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may hold spaces: split after its closing one.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const tick = (i: number) => (Number(fields[i]) * 1000) / TICKS_PER_SECOND;
    // fields[0] is the state (field 3), so field n is fields[n - 3].
    return { own: tick(11) + tick(12), children: tick(13) + tick(14), ppid: Number(fields[1]) };
  } catch {
    return null;
  }
}

/**
 * CPU ms used so far by a PostgreSQL cluster: the postmaster, its live children (backends,
 * WAL writer, checkpointer...), and the reaped children (closed connections), which Linux adds
 * to the postmaster's cutime/cstime.
 */
export function clusterCpuMs(postmasterPid: number): number {
  const postmaster = procTimes(postmasterPid);
  if (!postmaster) return Number.NaN;
  let total = postmaster.own + postmaster.children;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const child = procTimes(Number(name));
    if (child && child.ppid === postmasterPid) total += child.own;
  }
  return total;
}

/**
 * CPU ms so far of each live child of a PostgreSQL postmaster by pid, and of the reaped ones
 * (exited autovacuum workers, closed connections) under pid 0, for telling where a cluster's
 * CPU goes between two readings.
 */
export function clusterCpuByPid(postmasterPid: number): Map<number, number> {
  const byPid = new Map<number, number>();
  const postmaster = procTimes(postmasterPid);
  if (!postmaster) return byPid;
  byPid.set(0, postmaster.own + postmaster.children);
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const child = procTimes(Number(name));
    if (child && child.ppid === postmasterPid) byPid.set(Number(name), child.own);
  }
  return byPid;
}

/** CPU ms used so far by one process (all its threads), e.g. a daemon in a child process. */
export function processCpuMs(pid: number): number {
  const times = procTimes(pid);
  return times ? times.own : Number.NaN;
}

/** The postmaster of the backend serving `backendPid` (a backend's parent). */
export function postmasterOf(backendPid: number): number {
  const times = procTimes(backendPid);
  if (!times) throw new Error(`no /proc entry for PostgreSQL backend ${backendPid}`);
  return times.ppid;
}

/** CPU ms of this process so far (daemon, load generator and baseline servers share it). */
export function selfCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/** Counts of the frontend traffic through a `WireCounter`. */
export interface WireCounts {
  statements: number;
  roundTrips: number;
}

/** A counting TCP proxy in front of PostgreSQL; point the daemon's database URL at `url`. */
export interface WireCounter {
  url: string;
  counts(): WireCounts;
  close(): Promise<void>;
}

/** Starts a proxy to the PostgreSQL at `targetUrl` (no TLS: the test server has none). */
export async function startWireCounter(targetUrl: string): Promise<WireCounter> {
  const target = new URL(targetUrl);
  const totals: WireCounts = { statements: 0, roundTrips: 0 };
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    // The first message (startup) has no type byte; every later one is type + int32 length.
    let started = false;
    let pending: Buffer = Buffer.alloc(0);
    let serverSpoke = true;
    client.on('data', (chunk: Buffer) => {
      if (serverSpoke) {
        totals.roundTrips++;
        serverSpoke = false;
      }
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      for (;;) {
        if (!started) {
          if (pending.length < 4) break;
          const length = pending.readInt32BE(0);
          if (pending.length < length) break;
          pending = pending.subarray(length);
          started = true;
          continue;
        }
        if (pending.length < 5) break;
        const length = pending.readInt32BE(1);
        if (pending.length < length + 1) break;
        const type = String.fromCharCode(pending[0]!);
        if (type === 'E' || type === 'Q') totals.statements++;
        pending = pending.subarray(length + 1);
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      serverSpoke = true;
      client.write(chunk);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = new URL(targetUrl);
  url.port = String(port);
  return {
    url: url.toString(),
    counts: () => ({ ...totals }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
