#!/usr/bin/env node
// Prepares a fresh clone: npm dependencies, nats-server, and (for tests) PostgreSQL server binaries
// and Chromium.
// Runs before node_modules exists, so it uses Node built-ins only. Quiet when there is nothing to do.
//
//   node scripts/setup.mjs              before `npm start`
//   node scripts/setup.mjs --for-tests  before `npm test` / `npm run bench` (PostgreSQL required too)
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const forTests = process.argv.includes('--for-tests');

/** Prints one `setup:` line on stderr so it never mixes with a command's stdout. */
function say(message) {
  process.stderr.write(`setup: ${message}\n`);
}

/** Runs a command with inherited stdio; returns its exit status (null when it could not start). */
function run(command, args) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (result.error) say(`could not run ${command}: ${result.error.message}`);
  return result.status;
}

/** Runs a command with its output held back, shown only when it fails (apt is chatty). */
function runQuietly(command, args) {
  const result = spawnSync(command, args, { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.error) say(`could not run ${command}: ${result.error.message}`);
  else if (result.status !== 0) process.stderr.write(`${result.stdout}${result.stderr}`);
  return result.status;
}

// Debian installs nats-server into /usr/sbin, which a non-root user's PATH often lacks.
const SYSTEM_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** Full path of an executable found on PATH (or in the sbin directories), or null. */
function onPath(name) {
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), ...SYSTEM_DIRS]) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // Not in this PATH entry; keep looking.
    }
  }
  return null;
}

// (a) npm dependencies ------------------------------------------------------------------------

function ensureNodeModules() {
  const lockfile = join(root, 'package-lock.json');
  const installedMarker = join(root, 'node_modules', '.package-lock.json');
  const hasLockfile = existsSync(lockfile);
  // npm writes node_modules/.package-lock.json after every install; a newer package-lock.json
  // means someone pulled or changed dependencies since.
  const upToDate =
    existsSync(installedMarker) &&
    (!hasLockfile || statSync(lockfile).mtimeMs <= statSync(installedMarker).mtimeMs);
  if (upToDate) return;
  const args = hasLockfile ? ['ci', '--no-audit', '--no-fund'] : ['install', '--no-audit', '--no-fund'];
  say(`installing npm dependencies (npm ${args[0]})`);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  if (run(npm, args) !== 0) {
    say(`npm ${args[0]} failed; fix the error above and run it again`);
    process.exit(1);
  }
}

// System packages ------------------------------------------------------------------------------

/** How to run apt-get with privileges: [] as root, ['sudo', '-n'] with passwordless sudo, null otherwise. */
function privilegePrefix() {
  if (!onPath('apt-get')) return null;
  if (typeof process.getuid === 'function' && process.getuid() === 0) return [];
  if (onPath('sudo') && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0) return ['sudo', '-n'];
  return null;
}

/** Why a package is still missing after {@link aptInstall}, for the message to the user. */
let aptProblem = '';

/** Installs a Debian package; returns true on success. Refreshes the index only when apt knows no candidate. */
function aptInstall(packageName) {
  const prefix = privilegePrefix();
  if (prefix === null) {
    aptProblem = onPath('apt-get')
      ? 'installing it needs root or passwordless sudo'
      : 'there is no apt-get here to install it with';
    return false;
  }
  const asAdmin = (args) => {
    const [command, ...rest] = [...prefix, 'env', 'DEBIAN_FRONTEND=noninteractive', ...args];
    return runQuietly(command, rest);
  };
  const policy = spawnSync('apt-cache', ['policy', packageName], { encoding: 'utf8' });
  const candidate = /Candidate:\s*(\S+)/.exec(policy.stdout ?? '')?.[1];
  if (!candidate || candidate === '(none)') {
    say('refreshing the apt package index');
    if (asAdmin(['apt-get', 'update', '-qq']) !== 0) {
      aptProblem = '`apt-get update` failed (output above)';
      return false;
    }
  }
  say(`installing Debian package ${packageName}`);
  if (asAdmin(['apt-get', 'install', '-y', '-qq', '--no-install-recommends', packageName]) !== 0) {
    aptProblem = `\`apt-get install ${packageName}\` failed (output above)`;
    return false;
  }
  return true;
}

// (b) nats-server ------------------------------------------------------------------------------

/**
 * Whether the daemon config points at an external NATS (then no local nats-server is needed).
 * Uses the project's own `yaml` package, which step (a) has just installed.
 */
function configHasNatsUrl() {
  const configDir = resolve(root, process.env.OMNIBUS_CONFIG_DIR ?? 'config');
  const file = join(configDir, 'omnibus.yaml');
  if (!existsSync(file)) return false;
  try {
    const { parse } = createRequire(join(root, 'package.json'))('yaml');
    const url = parse(readFileSync(file, 'utf8'))?.nats?.url;
    return typeof url === 'string' && url.length > 0;
  } catch {
    // An unreadable config is the daemon's to report, with file and line; here it only means "unknown".
    return false;
  }
}

/** Returns false (after explaining) when the tests cannot run for want of nats-server. */
function ensureNatsServer() {
  if (onPath('nats-server')) return true;
  if (!forTests && configHasNatsUrl()) return true;
  if (aptInstall('nats-server') && onPath('nats-server')) return true;
  say(`nats-server is not installed: ${aptProblem || 'it was installed but is not on PATH'}.`);
  say('  Install it: `sudo apt-get install nats-server` (Debian/Ubuntu), `brew install nats-server` (macOS),');
  say('  or download a release (2.10 or newer) from https://github.com/nats-io/nats-server/releases');
  if (forTests) {
    say('  Or set OMNIBUS_TEST_NATS_URL to an existing NATS server with JetStream.');
    return false;
  }
  // `npm start` goes on: the daemon itself names the missing nats-server if it really needs one.
  say('  Or set `nats.url` in config/omnibus.yaml to use an existing NATS server with JetStream.');
  return true;
}

// (c) PostgreSQL server binaries (tests only) ---------------------------------------------------

/** Directory holding initdb: the highest /usr/lib/postgresql/<version>/bin, else PATH. */
function findPostgresBin() {
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    const versions = readdirSync(base)
      .filter((name) => /^\d+(\.\d+)?$/.test(name) && existsSync(join(base, name, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return join(base, versions[0], 'bin');
  }
  const initdb = onPath('initdb');
  return initdb ? dirname(initdb) : null;
}

/** Returns false (after explaining) when the tests cannot run for want of PostgreSQL. */
function ensurePostgres() {
  if (process.env.OMNIBUS_TEST_PG_URL) return true;
  if (findPostgresBin()) return true;
  if (aptInstall('postgresql') && findPostgresBin()) return true;
  say(`PostgreSQL server binaries (initdb, postgres) are missing: ${aptProblem || 'installed, but not found'}.`);
  say('  Install them: `sudo apt-get install postgresql` (Debian/Ubuntu), `brew install postgresql` (macOS),');
  say('  or set OMNIBUS_TEST_PG_URL to an existing server (admin URL to database `postgres`).');
  return false;
}

// (d) openssl (tests only): the NATS TLS test makes its CA and server certificate with it.

/** Returns false (after explaining) when the tests cannot run for want of openssl. */
function ensureOpenssl() {
  if (onPath('openssl')) return true;
  if (aptInstall('openssl') && onPath('openssl')) return true;
  say(`openssl is not installed: ${aptProblem || 'it was installed but is not on PATH'}.`);
  say('  Install it: `sudo apt-get install openssl` (Debian/Ubuntu); macOS ships it.');
  return false;
}

// (e) Chromium (tests only): the console tests drive Debian's `chromium` with playwright-core.

/** Where the console tests find Chromium (OMNIBUS_TEST_CHROMIUM, default Debian's path). */
const chromiumPath = process.env.OMNIBUS_TEST_CHROMIUM ?? '/usr/bin/chromium';

/** Returns false (after explaining) when the console tests cannot run for want of Chromium. */
function ensureChromium() {
  if (existsSync(chromiumPath)) return true;
  if (!process.env.OMNIBUS_TEST_CHROMIUM && aptInstall('chromium') && existsSync(chromiumPath)) return true;
  say(`Chromium is not installed at ${chromiumPath}: ${aptProblem || 'it was installed but is not there'}.`);
  say('  Install it: `sudo apt-get install chromium` (Debian/Ubuntu),');
  say('  or set OMNIBUS_TEST_CHROMIUM to the path of a Chromium or Chrome executable.');
  return false;
}

/**
 * Compiles src/ to JavaScript now (bin/compiled.mjs) so the first start does not pay for it;
 * where it fails the daemon runs the TypeScript through tsx, so a failure is only reported.
 */
function ensureCompiled() {
  const result = spawnSync(process.execPath, [join(root, 'bin', 'compiled.mjs')], { cwd: root, encoding: 'utf8' });
  if (result.status !== 0) say(`compiling src/ failed, the daemon will run it through tsx: ${(result.stderr || result.error?.message || '').trim().split('\n').slice(-1)[0]}`);
}

ensureNodeModules();
ensureCompiled();
const natsReady = forTests && process.env.OMNIBUS_TEST_NATS_URL ? true : ensureNatsServer();
const postgresReady = forTests ? ensurePostgres() : true;
const opensslReady = forTests ? ensureOpenssl() : true;
const chromiumReady = forTests ? ensureChromium() : true;
if (!natsReady || !postgresReady || !opensslReady || !chromiumReady) process.exit(1);
