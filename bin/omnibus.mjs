#!/usr/bin/env node
// Launcher: runs the JavaScript compiled from src/ (compiled on first use and again whenever a
// source changes, see compiled.mjs), or the TypeScript sources through tsx where no compiler is
// at hand. OMNIBUS_TSX=1 always uses tsx.
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { compiledEntry, compileInChild, holdBuild } from './compiled.mjs';

// V8 lets the old generation grow to up to four times what survived the last full collection
// before it collects again; under sustained ingest most of what it collects there is short-lived
// request data, so the daemon's RSS climbed past 220 MiB at 1,000 webhooks/s. 150 % growth
// (2.5x) keeps it near 180 MiB for the same CPU. OMNIBUS_HEAP_GROWING_PERCENT sets another
// figure (0: V8's own heuristics); a --heap-growing-percent given to node itself wins.
const growing = process.env.OMNIBUS_HEAP_GROWING_PERCENT ?? '150';
if (!/^\d{1,4}$/.test(growing)) {
  process.stderr.write(`OMNIBUS_HEAP_GROWING_PERCENT must be a whole number of percent (0 for V8's own); ignored\n`);
} else if (growing !== '0' && !process.execArgv.some((flag) => flag.startsWith('--heap-growing-percent'))) {
  setFlagsFromString(`--heap-growing-percent=${growing}`);
}

const entry = process.env.OMNIBUS_TSX === '1' ? null : (compiledEntry() ?? compileInChild());
let main;
if (entry) {
  holdBuild(entry);
  ({ main } = await import(pathToFileURL(entry).href));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/cli.ts'));
}
await main(process.argv.slice(2));
