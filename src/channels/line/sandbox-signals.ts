/**
 * The fake's chat signals: `POST /v2/bot/chat/markAsRead` (`{ markAsReadToken }`) and
 * `POST /v2/bot/chat/loading/start` (`{ chatId, loadingSeconds }`, 5-60 in steps of 5, a user
 * id only), checked like LINE and recorded exactly as received; and the chat mode `GET
 * /v2/bot/info` reports (`bot` unless a test turns Chat on with `setSandboxChatMode`).
 */
import type { Context, Hono } from 'hono';
import { readJsonObject } from '../../sandbox/index.ts';
import { authorize } from './sandbox-api.ts';
import { lineError, lineJson, type FakeState } from './sandbox-state.ts';

/** A signal the fake accepted. */
export interface RecordedLineSignal {
  accountId: string;
  path: '/v2/bot/chat/markAsRead' | '/v2/bot/chat/loading/start';
  body: Record<string, unknown>;
  at: Date;
}

const log: RecordedLineSignal[] = [];
const chatModes = new Map<string, 'chat' | 'bot'>();

/** Signals accepted by every LINE fake of this process, oldest first, optionally of one account. */
export function recordedLineSignals(accountId?: string): RecordedLineSignal[] {
  return log.filter((entry) => accountId === undefined || entry.accountId === accountId);
}

/** Turns Chat on (or off) for an account, as the Official Account Manager would. */
export function setSandboxChatMode(accountId: string, mode: 'chat' | 'bot'): void {
  chatModes.set(accountId, mode);
}

/** The chat mode `GET /v2/bot/info` reports for an account. */
export function sandboxChatMode(accountId: string): 'chat' | 'bot' {
  return chatModes.get(accountId) ?? 'bot';
}

/** Registers the two signal routes. */
export function registerSignalRoutes(app: Hono, state: FakeState): void {
  const record = async (c: Context, path: RecordedLineSignal['path'], check: (body: Record<string, unknown>) => Response | null) => {
    const account = authorize(state, c, 'info');
    if (account instanceof Response) return account;
    const body = await readJsonObject(c.req.raw);
    if (body === undefined) return lineError(400, 'The request body has 1 error(s)');
    const problem = check(body);
    if (problem !== null) return problem;
    log.push({ accountId: account.id, path, body, at: state.clock.now() });
    if (log.length > 10_000) log.shift();
    return lineJson({}, path === '/v2/bot/chat/loading/start' ? 202 : 200);
  };
  app.post('/v2/bot/chat/markAsRead', (c) =>
    record(c, '/v2/bot/chat/markAsRead', (body) =>
      typeof body.markAsReadToken === 'string' && body.markAsReadToken !== ''
        ? null
        : lineError(400, 'The request body has 1 error(s)', { details: [{ message: 'must be specified', property: 'markAsReadToken' }] }),
    ),
  );
  app.post('/v2/bot/chat/loading/start', (c) =>
    record(c, '/v2/bot/chat/loading/start', (body) => {
      if (typeof body.chatId !== 'string' || !/^U[0-9a-f]{32}$/.test(body.chatId)) {
        return lineError(400, 'The request body has 1 error(s)', { details: [{ message: 'invalid chatId: only a user id', property: 'chatId' }] });
      }
      const seconds = body.loadingSeconds;
      if (seconds !== undefined && (typeof seconds !== 'number' || seconds < 5 || seconds > 60 || seconds % 5 !== 0)) {
        return lineError(400, 'The request body has 1 error(s)', { details: [{ message: 'must be 5-60, in steps of 5', property: 'loadingSeconds' }] });
      }
      return null;
    }),
  );
}
