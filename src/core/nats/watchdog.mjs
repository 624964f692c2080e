// Runs nats-server for the daemon and stops it when the daemon goes, however it goes.
//
// Usage: node watchdog.mjs <grace-ms> <nats-server> [args...]
//
// Node cannot ask the kernel to signal a child when its parent dies (no PR_SET_PDEATHSIG), so
// a daemon killed with SIGKILL would leave its nats-server running on the store. This process
// sits between them: its stdin is a pipe from the daemon, and the kernel closes that pipe when
// the daemon exits for any reason. On end of stdin (or SIGTERM/SIGINT/SIGHUP) it sends the
// server SIGTERM, then SIGKILL after the grace period, and exits with the server.
//
// Plain JavaScript on purpose: it runs under `node` alone, without the TypeScript loader.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';

const [graceArg, binary, ...args] = process.argv.slice(2);
const graceMs = Number(graceArg);
if (!binary || !Number.isFinite(graceMs)) {
  process.stderr.write('[FTL] usage: watchdog.mjs <grace-ms> <nats-server> [args...]\n');
  process.exit(2);
}

// The server's output goes through us, never straight to the daemon's pipes: once the daemon is
// gone those pipes are broken, and a Go program writing to a broken stdout dies of SIGPIPE
// instead of finishing its graceful shutdown.
const server = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
for (const [from, to] of [
  [server.stdout, process.stdout],
  [server.stderr, process.stderr],
]) {
  let broken = false;
  to.on('error', () => (broken = true));
  from.on('data', (chunk) => {
    if (!broken) to.write(chunk);
  });
}

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  server.kill('SIGTERM');
  setTimeout(() => server.kill('SIGKILL'), graceMs).unref();
}

process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.on('error', stop);
process.stdin.resume();
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, stop);

server.once('error', (error) => {
  process.stderr.write(`[FTL] could not run ${binary}: ${error.message}\n`);
  process.exit(127);
});
server.once('exit', (code, signal) => {
  process.exit(code ?? 128 + (constants.signals[signal] ?? 0));
});
