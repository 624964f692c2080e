/**
 * The command line as operators run it: `node bin/omnibus.mjs ...` in a child process. Help on
 * every command, the version, `--config` everywhere, usage errors (exit 2), a busy port that
 * fails fast with a hint, and `tail` refusing a filter no stream carries.
 */
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { writeChildConfig } from '../support/child-daemon.ts';
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { natsUrl } from '../support/services.ts';
import { subjectWithin } from '../../src/cli.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const BIN = path.join(REPO, 'bin', 'omnibus.mjs');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to its exit. */
export function omnibus(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [BIN, ...args], { cwd: REPO, env: { ...process.env, OMNIBUS_CONFIG_DIR: '', ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: child.exitCode ?? (error ? 1 : 0), stdout, stderr });
    });
  });
}

const cleanup: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const step of cleanup.reverse()) await step();
});

// Each run compiles the sources through tsx: seconds apiece on a busy machine.
describe('omnibus CLI', { timeout: 180_000 }, () => {
  it.each([['start'], ['config', 'check'], ['migrate'], ['simulate'], ['tail']])('%s %s --help prints its options and exits 0', async (...command) => {
    const run = await omnibus([...command.filter(Boolean), '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Usage: omnibus ');
    expect(run.stdout).toContain('--config DIR');
    expect(run.stdout).toContain('--help');
  });

  it('--version prints the package version and the commit', async () => {
    const run = await omnibus(['--version']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^omnibus 0\.\d+\.\d+ \([0-9a-f]{7,}\)\n$/);
  });

  it('an unknown option is a usage error (exit 2) that lists every option', async () => {
    const run = await omnibus(['simulate', 'whatsapp', '--acount', 'x']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("Unknown option '--acount'");
    for (const flag of ['--account', '--from', '--text', '--file', '--callback', '--group', '--url', '--config']) expect(run.stderr).toContain(flag);
  });

  it('a missing argument and an unknown command exit 2', async () => {
    const missing = await omnibus(['simulate', 'whatsapp']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('missing --account, --from');
    const unknown = await omnibus(['strat']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command: strat');
  });

  it('config check reads --config DIR, a positional DIR and $OMNIBUS_CONFIG_DIR alike', async () => {
    const dir = await writeChildConfig({ databaseUrl: null, natsUrl: null, prefix: 'clicheck', port: 8080 });
    for (const run of [await omnibus(['config', 'check', '--config', dir]), await omnibus(['config', 'check', dir]), await omnibus(['config', 'check'], { OMNIBUS_CONFIG_DIR: dir })]) {
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toContain(`configuration in ${dir} is valid: 1 account(s): acme-wa (whatsapp)`);
    }
    const invalid = await omnibus(['config', 'check', '--config', path.join(dir, 'missing')]);
    expect(invalid.code).toBe(1);
  });

  it('a busy HTTP port fails the start with a hint naming http.port', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => new Promise((resolve) => blocker.close(() => resolve())));
    const port = (blocker.address() as { port: number }).port;
    const dir = await writeChildConfig({ databaseUrl: null, natsUrl: natsUrl(), prefix: 'clibusy', port });
    const run = await omnibus(['start', '--config', dir]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`cannot listen on 127.0.0.1:${port}: the port is already in use`);
    expect(run.stderr).toContain('http.port');
  });

  it('tail refuses a subject outside the streams at once (exit 2)', async () => {
    const daemon: TestDaemon = await startTestDaemon();
    cleanup.push(() => daemon.stop());
    const run = await omnibus(['tail', '--config', daemon.dir, '--all', '--subject', 'elsewhere.>']);
    expect(run.stderr).toContain(`--subject elsewhere.> is outside the events stream' subjects (${daemon.prefix}.v1.evt.>`);
    expect(run.code).toBe(2);
  });
});

describe('subjectWithin', () => {
  it('follows NATS wildcards', () => {
    expect(subjectWithin('acme.v1.evt.>', 'acme.v1.evt.>')).toBe(true);
    expect(subjectWithin('acme.v1.evt.whatsapp.*', 'acme.v1.evt.>')).toBe(true);
    expect(subjectWithin('acme.v1.>', 'acme.v1.evt.>')).toBe(false);
    expect(subjectWithin('acme.v1.evt', 'acme.v1.evt.>')).toBe(false);
    expect(subjectWithin('acme.x.evt.a', 'acme.*.evt.a')).toBe(true);
    expect(subjectWithin('acme.*.evt.a', 'acme.x.evt.a')).toBe(false);
  });
});
