import { describe, expect, it } from 'vitest';
import { substituteEnv } from '../../src/core/config/env.ts';

describe('substituteEnv', () => {
  const env = { TOKEN: 'abc', EMPTY: '' };

  it('replaces references and reports whether any was replaced', () => {
    expect(substituteEnv('Bearer ${TOKEN}!', env)).toEqual({ value: 'Bearer abc!', substituted: true, missing: [], errors: [] });
    expect(substituteEnv('plain $TOKEN text', env)).toEqual({ value: 'plain $TOKEN text', substituted: false, missing: [], errors: [] });
  });

  it('supports shell-style defaults', () => {
    expect(substituteEnv('${UNSET:-fallback}', env).value).toBe('fallback');
    expect(substituteEnv('${EMPTY:-fallback}', env).value).toBe('fallback');
    expect(substituteEnv('${EMPTY-fallback}', env).value).toBe('');
    expect(substituteEnv('${UNSET-fallback}', env).value).toBe('fallback');
    expect(substituteEnv('${TOKEN:-fallback}', env).value).toBe('abc');
    expect(substituteEnv('${UNSET:-}', env).value).toBe('');
    expect(substituteEnv('${UNSET:-a:-b}', env).value).toBe('a:-b');
  });

  it('treats $${ as a literal ${', () => {
    expect(substituteEnv('$${TOKEN} and ${TOKEN}', env)).toMatchObject({ value: '${TOKEN} and abc', substituted: true });
    expect(substituteEnv('$${TOKEN}', env)).toMatchObject({ value: '${TOKEN}', substituted: false });
  });

  it('reports missing variables and malformed references without values', () => {
    expect(substituteEnv('${A}-${TOKEN}-${B}', env)).toMatchObject({ missing: ['A', 'B'] });
    expect(substituteEnv('${1A}', env).errors[0]).toContain('invalid reference');
    expect(substituteEnv('${}', env).errors).toHaveLength(1);
    expect(substituteEnv('x${TOKEN', env).errors[0]).toContain('unterminated');
    expect(substituteEnv('${constructor}', env).missing).toEqual(['constructor']);
  });
});
