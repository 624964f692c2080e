/**
 * What the fake Bot API keeps per bot: its webhook, its queue of pending updates with
 * Telegram's offset rules and one-poller-at-a-time rule, the chats it may write to (users who
 * wrote, groups it is in), blocked users, upgraded groups, and everything sent to it.
 */
import type { AccountConfig } from '../../core/config/types.ts';
import type { Clock } from '../../core/clock.ts';
import { botIdOf, type TelegramSettings } from './config.ts';
import type { FailureQueue } from '../../sandbox/index.ts';
import type { FakeFileStore } from './sandbox-media.ts';

/** A Telegram account as the sandbox sees it. */
export type TelegramAccount = AccountConfig<TelegramSettings>;

/** An error the fake answers: Telegram's `{ ok: false, error_code, description, parameters? }`. */
export interface BotApiFailure {
  errorCode: number;
  description: string;
  parameters?: { retry_after?: number; migrate_to_chat_id?: number };
}

/** One call a send method received, exactly as decoded, and what the fake answered. */
export interface SentRecord {
  botId: string;
  method: string;
  /** Every non-file parameter, JSON-typed ones parsed. */
  params: Record<string, unknown>;
  /** Uploaded files by field name. */
  files: Record<string, { filename: string; mime: string; size: number; sha256: string }>;
  /** The Message (or `true`) returned. */
  result: unknown;
  at: Date;
}

/** A poll waiting for updates. */
interface Waiter {
  resolve(outcome: 'update' | 'conflict' | 'timeout'): void;
}

/** One bot's state. */
export class FakeBot {
  webhook: { url: string; secretToken?: string; allowedUpdates?: string[] } | null = null;
  readonly updates: Array<{ update_id: number } & Record<string, unknown>> = [];
  nextUpdateId = 100_000_001;
  readonly knownChats = new Map<string, 'private' | 'group' | 'supergroup'>();
  readonly blocked = new Set<string>();
  readonly migrated = new Map<string, string>();
  readonly messageIds = new Map<string, number>();
  readonly sent: SentRecord[] = [];
  readonly callbackAnswers: Array<Record<string, unknown>> = [];
  /** The last failed webhook delivery, as getWebhookInfo reports it (`last_error_date` in Unix seconds). */
  lastWebhookError: { date: number; message: string } | null = null;
  #waiter: Waiter | undefined;

  constructor(readonly botId: string) {}

  /** Queues an update for getUpdates (renumbered in the bot's own sequence); wakes a waiting poll. */
  enqueue(update: Record<string, unknown>): number {
    const updateId = this.nextUpdateId++;
    this.updates.push({ ...update, update_id: updateId });
    this.wake('update');
    return updateId;
  }

  /** "An update is considered confirmed as soon as getUpdates is called with an offset higher than its update_id." */
  confirm(offset: number): void {
    if (offset < 0) {
      // A negative offset keeps only the last |offset| updates and forgets the rest.
      this.updates.splice(0, Math.max(0, this.updates.length + offset));
      return;
    }
    while (this.updates.length > 0 && this.updates[0]!.update_id < offset) this.updates.shift();
  }

  /** Waits for an update, a newer poll (conflict) or the timeout, whichever comes first. */
  wait(timeoutMs: number, signal: AbortSignal): Promise<'update' | 'conflict' | 'timeout'> {
    // A newer getUpdates ends the older one: "terminated by other getUpdates request".
    this.wake('conflict');
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish('timeout'), timeoutMs);
      const onAbort = () => finish('timeout');
      const waiter: Waiter = { resolve: (outcome) => finish(outcome) };
      const finish = (outcome: 'update' | 'conflict' | 'timeout') => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        if (this.#waiter === waiter) this.#waiter = undefined;
        resolve(outcome);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiter = waiter;
    });
  }

  /** Ends a waiting poll, e.g. when a webhook is set. */
  wake(outcome: 'update' | 'conflict'): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.resolve(outcome);
  }

  /** Whether a poll is waiting right now (tests wait on this instead of sleeping). */
  get polling(): boolean {
    return this.#waiter !== undefined;
  }

  /** The next message id in a chat (ids are per chat on Telegram). */
  nextMessageId(chatId: string): number {
    const next = (this.messageIds.get(chatId) ?? 1000) + 1;
    this.messageIds.set(chatId, next);
    return next;
  }
}

/** The mutable state behind one fake. */
export interface FakeState {
  /** Accounts by bot token, replaced wholesale by `setAccounts`. */
  accounts: Map<string, TelegramAccount>;
  /** Bots by bot id; kept across `setAccounts` so a reload does not forget chats. */
  bots: Map<string, FakeBot>;
  clock: Clock;
  files: FakeFileStore;
  /** Scripted failures by lower-case method name, or `*` for the next call of any method. */
  failures: FailureQueue<BotApiFailure>;
}

/** Index accounts by token, skipping any without a usable one so a bad reload cannot crash a route. */
export function indexAccounts(accounts: ReadonlyArray<TelegramAccount>): Map<string, TelegramAccount> {
  const byToken = new Map<string, TelegramAccount>();
  for (const account of accounts) {
    const token = account.settings?.botToken;
    if (typeof token === 'string' && botIdOf(token) !== '') byToken.set(token, account);
  }
  return byToken;
}

/** The state of a bot, created on first use. */
export function botOf(state: FakeState, botId: string): FakeBot {
  let bot = state.bots.get(botId);
  if (bot === undefined) {
    bot = new FakeBot(botId);
    state.bots.set(botId, bot);
  }
  return bot;
}

/** Telegram's JSON answers. */
export function ok(result: unknown): Response {
  return Response.json({ ok: true, result });
}

export function fail(failure: BotApiFailure): Response {
  const body: Record<string, unknown> = { ok: false, error_code: failure.errorCode, description: failure.description };
  if (failure.parameters !== undefined) body.parameters = failure.parameters;
  const headers: Record<string, string> = {};
  if (failure.parameters?.retry_after !== undefined) headers['retry-after'] = String(failure.parameters.retry_after);
  return Response.json(body, { status: failure.errorCode, headers });
}

export const badRequest = (description: string, parameters?: BotApiFailure['parameters']) =>
  fail({ errorCode: 400, description: `Bad Request: ${description}`, ...(parameters !== undefined ? { parameters } : {}) });
