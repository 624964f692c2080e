/**
 * The metric list in docs/operations.md is the live registry of a started daemon: every
 * registered metric documented, every documented metric registered. Also the naming rules
 * dashboards rely on: standard process_/nodejs_ names, no gauge ending in _total, build info.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts';

const OPERATIONS = fileURLToPath(new URL('../../docs/operations.md', import.meta.url));

/** Names in the first column of the metrics table; `process_*` style rows become prefixes. */
function documented(): { names: Set<string>; prefixes: string[] } {
  const names = new Set<string>();
  const prefixes: string[] = [];
  for (const match of readFileSync(OPERATIONS, 'utf8').matchAll(/^\| (`[a-z_*]+`(?:, `[a-z_*]+`)*) \|/gm)) {
    for (const name of match[1]!.matchAll(/`([a-z_*]+)`/g)) {
      // Other tables of the page (fatal start-up errors, ...) also start with a code cell.
      if (!/^(omnibus|process|nodejs)_/.test(name[1]!)) continue;
      if (name[1]!.endsWith('*')) prefixes.push(name[1]!.slice(0, -1));
      else names.add(name[1]!);
    }
  }
  return { names, prefixes };
}

let daemon: TestDaemon;
beforeAll(async () => {
  daemon = await startTestDaemon();
}, 120_000);
afterAll(async () => {
  await daemon?.stop();
});

describe('metrics', () => {
  it('every registered metric is documented and every documented one registered', async () => {
    const live = (await daemon.daemon.metrics.registry.getMetricsAsJSON()).map((m) => ({ name: m.name, type: String(m.type) }));
    const { names, prefixes } = documented();
    expect(prefixes.sort()).toEqual(['nodejs_', 'process_']);
    const undocumented = live.filter((m) => !names.has(m.name) && !prefixes.some((p) => m.name.startsWith(p))).map((m) => m.name);
    expect(undocumented).toEqual([]);
    const unregistered = [...names].filter((name) => !live.some((m) => m.name === name));
    expect(unregistered).toEqual([]);
    expect(live.some((m) => m.name === 'process_cpu_seconds_total')).toBe(true);
    expect(live.some((m) => m.name === 'nodejs_eventloop_lag_seconds')).toBe(true);
    expect(live.filter((m) => m.name.includes('process_process'))).toEqual([]);
    expect(live.filter((m) => m.type === 'gauge' && m.name.endsWith('_total')).map((m) => m.name)).toEqual([]);
  });

  it('omnibus_build_info is 1 with the version and commit', async () => {
    const text = await daemon.daemon.metrics.registry.metrics();
    expect(text).toMatch(/^omnibus_build_info\{version="0\.\d+\.\d+",commit="[^"]+"\} 1$/m);
  });
});
