/**
 * The last-resort guard of `omnibus start`: an unhandled rejection or uncaught exception is
 * logged at error without its message (which may quote personal data) and the process goes
 * on; only a burst of uncaught exceptions (a broken process) makes it exit.
 */
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/logger.ts';
import { installProcessGuard } from '../../src/core/process-guard.ts';

function capture() {
  const lines: any[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, logger: createLogger('info', destination) };
}

describe('process guard', () => {
  it('logs an unhandled rejection and an uncaught exception at error, without their messages, and does not exit', async () => {
    const { lines, logger } = capture();
    const target = new EventEmitter();
    const exits: number[] = [];
    const remove = installProcessGuard(logger, target as unknown as NodeJS.Process, (code) => exits.push(code));
    const secret = new Error('duplicate key (phone)=(+15551234567) for Kerry Fisher');
    target.emit('unhandledRejection', secret, Promise.resolve());
    target.emit('uncaughtException', Object.assign(new TypeError('text was: hello Kerry'), { code: 'E_TEST' }), 'uncaughtException');
    target.emit('unhandledRejection', 'a bare string with +15551234567', Promise.resolve());
    await new Promise((resolve) => setImmediate(resolve));
    expect(exits).toEqual([]);
    expect(lines.map((l) => l.level)).toEqual([50, 50, 50]);
    expect(lines[0]).toMatchObject({ msg: 'unhandled promise rejection; the daemon carries on', error: { type: 'Error' } });
    expect(lines[1]).toMatchObject({ error: { type: 'TypeError', code: 'E_TEST' } });
    expect(lines[2]).toMatchObject({ error: { type: 'string' } });
    const text = JSON.stringify(lines);
    expect(text).not.toContain('15551234567');
    expect(text).not.toContain('Kerry');
    remove();
    expect(target.listenerCount('unhandledRejection')).toBe(0);
  });

  it('exits once uncaught exceptions keep coming', () => {
    const { logger } = capture();
    const target = new EventEmitter();
    const exits: number[] = [];
    installProcessGuard(logger, target as unknown as NodeJS.Process, (code) => exits.push(code));
    for (let i = 0; i < 19; i++) target.emit('uncaughtException', new Error('again'), 'uncaughtException');
    expect(exits).toEqual([]);
    target.emit('uncaughtException', new Error('again'), 'uncaughtException');
    expect(exits).toEqual([1]);
  });
});
