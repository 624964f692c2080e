/**
 * The error serializer: the values of a failed statement never reach the log, and a strange
 * error (cycles, throwing getters) is still logged rather than crashing the line's caller.
 */
import { describe, expect, it } from 'vitest';
import { serializeError } from '../../src/core/logger.ts';

describe('serializeError', () => {
  it('drops statement values from drizzle, postgres.js and PGlite errors, down the cause chain', () => {
    const driver = Object.assign(new Error('duplicate key value violates unique constraint "x"'), {
      code: '23505', detail: 'Key (phone)=(16315550199) already exists.', parameters: ['16315550199'], params: ['Secret Name'], query: 'insert into identities values ($1, $2)',
    });
    const wrapped = Object.assign(new Error('Failed query: insert into identities values ($1, $2)\nparams: 16315550199,Secret Name'), { query: 'insert', params: ['16315550199'], cause: driver });
    const text = JSON.stringify(serializeError(wrapped));
    for (const needle of ['16315550199', 'Secret Name', 'insert into']) expect(text).not.toContain(needle);
    expect(text).toContain('23505');
    expect(text).toContain('duplicate key value violates unique constraint');
  });

  it('survives cyclic causes, self references and throwing getters', () => {
    const a = new Error('a') as Error & Record<string, unknown>;
    const b = new Error('b') as Error & Record<string, unknown>;
    a.cause = b;
    b.cause = a;
    a.self = a;
    a.list = [a, { nested: b }];
    expect(() => JSON.stringify(serializeError(a))).not.toThrow();
    const odd = new Error('odd');
    Object.defineProperty(odd, 'boom', { enumerable: true, get: () => { throw new TypeError('getter'); } });
    expect(serializeError(odd)).toMatchObject({ message: 'odd' });
  });
});
