/**
 * Every channel folder must run the conformance suite: a channel added without
 * `test/conformance/<channel>.test.ts` calling `runAdapterConformance` fails here.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const CHANNELS = new URL('../../src/channels/', import.meta.url);
const channelFolders = readdirSync(CHANNELS, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort();

describe('conformance coverage', () => {
  it('finds the channel folders', () => {
    expect(channelFolders).toContain('whatsapp');
  });

  for (const channel of channelFolders) {
    it(`${channel} has test/conformance/${channel}.test.ts calling runAdapterConformance`, () => {
      const file = new URL(`./${channel}.test.ts`, import.meta.url);
      expect(existsSync(file), `missing test/conformance/${channel}.test.ts`).toBe(true);
      expect(readFileSync(file, 'utf8')).toMatch(/\brunAdapterConformance\s*\(/);
    });
  }
});
