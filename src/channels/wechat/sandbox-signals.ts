/**
 * The fake's `POST /cgi-bin/message/custom/typing`: `{ touser, command: Typing | CancelTyping }`
 * with the access token, checked like WeChat (40003 without a user, 40008 for another command;
 * the 30 s window, 45080, is the daemon's own check) and recorded exactly as received.
 */
import type { Hono } from 'hono';
import { readJsonObject } from '../../sandbox/index.ts';
import { authorize } from './sandbox-api.ts';
import { wechatError, wechatJson, type FakeState } from './sandbox-state.ts';

/** A typing request the fake accepted. */
export interface RecordedTyping {
  appId: string;
  body: Record<string, unknown>;
  at: Date;
}

const log: RecordedTyping[] = [];

/** Typing requests accepted by every WeChat fake of this process, oldest first. */
export function recordedTyping(appId?: string): RecordedTyping[] {
  return log.filter((entry) => appId === undefined || entry.appId === appId);
}

/** Registers the typing route. */
export function registerSignalRoutes(app: Hono, state: FakeState): void {
  app.post('/cgi-bin/message/custom/typing', async (c) => {
    const appId = authorize(state, c);
    if (appId instanceof Response) return appId;
    const body = await readJsonObject(c.req.raw);
    if (body === undefined) return wechatError(47001);
    if (typeof body.touser !== 'string' || body.touser === '') return wechatError(40003);
    if (body.command !== 'Typing' && body.command !== 'CancelTyping') return wechatError(40008);
    log.push({ appId, body, at: state.clock.now() });
    if (log.length > 10_000) log.shift();
    return wechatJson({ errcode: 0, errmsg: 'ok' });
  });
}
