#!/usr/bin/env node
// Launcher: runs the JavaScript compiled from src/ (compiled on first use and again whenever a
// source changes, see compiled.mjs), or the TypeScript sources through tsx where no compiler is
// at hand. OMNIBUS_TSX=1 always uses tsx.
import { pathToFileURL } from 'node:url';
import { compiledEntry, compileInChild, holdBuild } from './compiled.mjs';

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
