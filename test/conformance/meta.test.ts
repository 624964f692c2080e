/**
 * Every channel folder must run the conformance suites: a channel added without
 * `test/conformance/<channel>.test.ts` calling `runAdapterConformance` fails here, and so does a
 * channel with a sandbox (a `sandbox.ts`, or `sandbox` on its definition) but no
 * `test/conformance/<channel>-sandbox.test.ts` calling `runSandboxConformance`.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { channels } from '../../src/channels/index.ts';

const CHANNELS = new URL('../../src/channels/', import.meta.url);
const channelFolders = readdirSync(CHANNELS, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort();
const withSandbox = [
  ...new Set([
    ...channelFolders.filter((channel) => existsSync(new URL(`./${channel}/sandbox.ts`, CHANNELS))),
    ...[...channels.values()].filter((definition) => definition.sandbox !== undefined).map((definition) => definition.id),
  ]),
].sort();

describe('conformance coverage', () => {
  it('finds the channel folders and their sandboxes', () => {
    expect(channelFolders).toContain('whatsapp');
    expect(withSandbox).toContain('whatsapp');
  });

  it('merge evidence namespaces are well-formed, unique across channels and never a built-in name', () => {
    const declared = [...channels.values()].flatMap((definition) => (definition.mergeEvidence ?? []).map((item) => item.namespace));
    expect(declared.filter((name) => !/^[a-z][a-z0-9_]{0,63}$/.test(name))).toEqual([]);
    expect(declared.filter((name) => ['phone', 'email', 'manual', 'name'].includes(name))).toEqual([]);
    expect(new Set(declared).size).toBe(declared.length);
    expect(declared).toContain('wechat_unionid');
  });

  for (const channel of channelFolders) {
    it(`${channel} has test/conformance/${channel}.test.ts calling runAdapterConformance`, () => {
      const file = new URL(`./${channel}.test.ts`, import.meta.url);
      expect(existsSync(file), `missing test/conformance/${channel}.test.ts`).toBe(true);
      expect(readFileSync(file, 'utf8')).toMatch(/\brunAdapterConformance\s*\(/);
    });
  }

  for (const channel of withSandbox) {
    it(`${channel} has a sandbox, and test/conformance/${channel}-sandbox.test.ts calling runSandboxConformance`, () => {
      const file = new URL(`./${channel}-sandbox.test.ts`, import.meta.url);
      expect(existsSync(file), `missing test/conformance/${channel}-sandbox.test.ts`).toBe(true);
      expect(readFileSync(file, 'utf8')).toMatch(/\brunSandboxConformance\s*\(/);
    });
  }
});
