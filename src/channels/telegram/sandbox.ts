/**
 * The Telegram sandbox: a fake Bot API (methods in `sandbox-bot-api.ts`, state per bot in
 * `sandbox-state.ts`) and the customer simulator (`sandbox-webhooks.ts`). Bots are known by the
 * tokens of the accounts the fake serves; an unknown token is 401, as on Telegram.
 *
 * The real Telegram knows which users started the bot; the fake learns it from what it is
 * shown: `deliver` (a simulated customer action, posted to the daemon's webhook in webhook mode
 * or queued for getUpdates in polling mode), `observe(spec)` / `POST {basePath}/_omnibus/observe`
 * (the request `omnibus simulate` built in another process), or `addChat`.
 *
 * Mounting: routes match full paths, so pass requests unchanged with `basePath`
 * (`/sandbox/telegram` in the daemon).
 */
import type { FakeOptions, SandboxDefinition, SandboxFake, SimulateInput, WebhookRequestSpec } from '../../core/adapter.ts';
import { systemClock } from '../../core/clock.ts';
import { botIdOf, type TelegramSettings } from './config.ts';
import { FailureQueue, createFakeApp, isRecord, normaliseBasePath, registerObserveRoute } from '../../sandbox/index.ts';
import { ANY_METHOD, callMethod, storeUploads } from './sandbox-bot-api.ts';
import { FakeFileStore } from './sandbox-media.ts';
import { decodeParams, routeOf, type DecodedParams } from './sandbox-routing.ts';
import { botOf, fail, indexAccounts, type BotApiFailure, type FakeBot, type FakeState, type SentRecord, type TelegramAccount } from './sandbox-state.ts';
import { buildUpdate, simulateInbound, webhookRequest } from './sandbox-webhooks.ts';
import { SECRET_HEADER } from './verify.ts';

export { buildUpdate, simulateInbound, webhookRequest };
export type { BotApiFailure, SentRecord } from './sandbox-state.ts';

/** The running fake with the hooks tests use to steer and inspect it. */
export interface TelegramFake extends SandboxFake<TelegramSettings> {
  /** A customer action: posted to the daemon (webhook mode) or queued for getUpdates (polling). */
  deliver(accountId: string, input: SimulateInput): Promise<Record<string, unknown>>;
  /** Queues any Update for getUpdates; returns the update_id it was given. */
  enqueue(accountId: string, update: Record<string, unknown>): number;
  /** Reads a simulated webhook request and notes the chats and blocks it shows. */
  observe(spec: WebhookRequestSpec): { ok: boolean; reason?: string };
  /** Lets the bot write into a chat (a user who pressed Start, a group it was added to). */
  addChat(accountId: string, chatId: string, type?: 'private' | 'group' | 'supergroup'): void;
  /** The user blocks (or unblocks) the bot: sends answer 403. */
  block(accountId: string, userId: string, blocked?: boolean): void;
  /** The group becomes a supergroup: sends to the old id answer 400 with `migrate_to_chat_id`. */
  migrateGroup(accountId: string, oldChatId: string, newChatId: string): void;
  /** The next call (of `method`, or any) answers this error. */
  failNext(failure: BotApiFailure, method?: string): void;
  /** Send calls received, for one account or all. */
  sentMessages(accountId?: string): SentRecord[];
  /** answerCallbackQuery calls received. */
  callbackAnswers(accountId?: string): Array<Record<string, unknown>>;
  /** The fake's state of one account's bot (webhook, pending updates, whether a poll waits). */
  bot(accountId: string): FakeBot;
}

/** Build the fake Bot API for the given accounts. */
export function createFake(options: FakeOptions<TelegramSettings>): TelegramFake {
  const clock = options.clock ?? systemClock;
  const basePath = normaliseBasePath(options.basePath);
  const state: FakeState = { accounts: indexAccounts(options.accounts), bots: new Map(), clock, files: new FakeFileStore(clock), failures: new FailureQueue() };

  const accountById = (accountId: string): TelegramAccount => {
    const account = [...state.accounts.values()].find((candidate) => candidate.id === accountId);
    if (account === undefined) throw new Error(`the Telegram fake serves no account ${accountId}`);
    return account;
  };
  const botFor = (account: TelegramAccount) => botOf(state, botIdOf(account.settings.botToken));

  const observe = (spec: WebhookRequestSpec): { ok: boolean; reason?: string } => {
    const match = /^\/webhooks\/telegram\/([^/?]+)$/.exec(spec.path);
    const account = match === null ? undefined : [...state.accounts.values()].find((candidate) => candidate.id === decodeURIComponent(match[1]!));
    if (account === undefined) return { ok: false, reason: 'unknown_account' };
    const header = Object.entries(spec.headers).find(([name]) => name.toLowerCase() === SECRET_HEADER)?.[1];
    if (header === undefined || header !== account.settings.secretToken) return { ok: false, reason: 'secret_mismatch' };
    let update: unknown;
    try {
      update = JSON.parse(typeof spec.body === 'string' ? spec.body : new TextDecoder().decode(spec.body));
    } catch {
      return { ok: false, reason: 'invalid_json' };
    }
    noteUpdate(botFor(account), update);
    return { ok: true };
  };

  // The kit's app: Telegram's 404 for unknown paths, its 500 when a route throws.
  const { app, fetch } = createFakeApp({
    basePath: options.basePath,
    notFound: () => fail({ errorCode: 404, description: 'Not Found' }),
    onError: () => fail({ errorCode: 500, description: 'Internal Server Error' }),
  });
  registerObserveRoute(app, (spec) => {
    const outcome = observe(spec);
    return { status: outcome.ok ? 200 : 400, body: outcome };
  });
  app.post('/_omnibus/inbound', async (c) => {
    const body: unknown = await c.req.json().catch(() => undefined);
    if (!isRecord(body) || typeof body.account !== 'string' || typeof body.from !== 'string') {
      return Response.json({ error: { code: 'invalid_request', message: 'give JSON as omnibus simulate builds it' } }, { status: 400 });
    }
    const { account, ...input } = body as unknown as SimulateInput & { account: string };
    return Response.json({ ok: true, update: await fake.deliver(account, input) });
  });
  // `/file/bot<token>/<file_path>`: the bytes getFile located.
  app.get('/file/:bot{bot[^/]+}/*', (c) => {
    const route = routeOf(new URL(c.req.url).pathname, basePath);
    const file = route.kind === 'file' && state.accounts.has(route.token) ? state.files.byPath(route.path) : undefined;
    if (file === undefined) return fail({ errorCode: 404, description: 'Not Found' });
    return new Response(file.bytes.slice(), { status: 200, headers: { 'content-type': 'application/octet-stream', 'content-length': String(file.size) } });
  });
  // `/bot<token>/<method>`: every Bot API method (the table in sandbox-bot-api.ts).
  app.on(['GET', 'POST'], '/:bot{bot[^/]+}/:method{[A-Za-z]+}', async (c) => {
    const route = routeOf(new URL(c.req.url).pathname, basePath);
    if (route.kind !== 'method') return fail({ errorCode: 404, description: 'Not Found' });
    if (!state.accounts.has(route.token)) return fail({ errorCode: 401, description: 'Unauthorized' });
    let params: DecodedParams;
    try {
      params = await decodeParams(c.req.raw);
    } catch {
      return fail({ errorCode: 400, description: "Bad Request: can't parse request" });
    }
    await storeUploads(params, state);
    return callMethod(route.method, botOf(state, botIdOf(route.token)), params, state, c.req.raw);
  });

  const fake: TelegramFake = {
    fetch,
    putMedia(bytes, mime, filename) {
      const file = state.files.put(bytes.slice(), mime, filename);
      return { id: file.id, sha256: file.sha256 };
    },
    setAccounts(accounts) {
      state.accounts = indexAccounts(accounts);
    },
    async deliver(accountId, input) {
      const account = accountById(accountId);
      const bot = botFor(account);
      const chatId = input.group ?? input.from.trim().replace(/^\+/, '');
      const ids = { updateId: bot.nextUpdateId, messageId: bot.nextMessageId(chatId) };
      const update = buildUpdate(account, { ...input, timestamp: input.timestamp ?? clock.now() }, ids);
      noteUpdate(bot, update);
      if (account.settings.mode === 'polling' && bot.webhook === null) {
        const updateId = bot.enqueue(update);
        return { ...update, update_id: updateId };
      }
      bot.nextUpdateId++;
      if (options.deliverWebhook === undefined) throw new Error('the Telegram fake has no deliverWebhook to post webhooks with');
      const answer = await options.deliverWebhook(webhookRequest(account, update));
      // Telegram notes a refused delivery for getWebhookInfo, in its own words.
      if (answer !== undefined && (answer.status < 200 || answer.status > 299)) {
        bot.lastWebhookError = { date: Math.floor(clock.now().getTime() / 1000), message: `Wrong response from the webhook: ${answer.status}` };
      }
      return update;
    },
    enqueue: (accountId, update) => botFor(accountById(accountId)).enqueue(update),
    observe,
    addChat(accountId, chatId, type = chatId.startsWith('-100') ? 'supergroup' : chatId.startsWith('-') ? 'group' : 'private') {
      botFor(accountById(accountId)).knownChats.set(chatId, type);
    },
    block(accountId, userId, blocked = true) {
      const bot = botFor(accountById(accountId));
      if (blocked) bot.blocked.add(userId);
      else bot.blocked.delete(userId);
    },
    migrateGroup(accountId, oldChatId, newChatId) {
      const bot = botFor(accountById(accountId));
      bot.migrated.set(oldChatId, newChatId);
      bot.knownChats.set(newChatId, 'supergroup');
    },
    failNext: (failure, method) => state.failures.script(method === undefined ? ANY_METHOD : method.toLowerCase(), failure),
    sentMessages: (accountId) => (accountId === undefined ? [...state.bots.values()].flatMap((bot) => bot.sent) : botFor(accountById(accountId)).sent),
    callbackAnswers: (accountId) => (accountId === undefined ? [...state.bots.values()].flatMap((bot) => bot.callbackAnswers) : botFor(accountById(accountId)).callbackAnswers),
    bot: (accountId) => botFor(accountById(accountId)),
  };
  return fake;
}

/** What an Update tells the fake: a chat the bot may now write to, or a block. */
function noteUpdate(bot: FakeBot, update: unknown): void {
  if (!isRecord(update)) return;
  const message = [update.message, update.business_message, isRecord(update.callback_query) ? update.callback_query.message : undefined].find(isRecord);
  const chat = message !== undefined && isRecord(message.chat) ? message.chat : undefined;
  if (chat !== undefined && typeof chat.id === 'number') {
    const type = chat.type === 'group' || chat.type === 'supergroup' ? chat.type : 'private';
    bot.knownChats.set(String(chat.id), type);
    if (type === 'private') bot.blocked.delete(String(chat.id));
  }
  const member = isRecord(update.my_chat_member) ? update.my_chat_member : undefined;
  if (member !== undefined && isRecord(member.chat) && typeof member.chat.id === 'number' && isRecord(member.new_chat_member)) {
    const chatId = String(member.chat.id);
    if (member.new_chat_member.status === 'kicked') bot.blocked.add(chatId);
    else if (member.new_chat_member.status === 'member') {
      bot.blocked.delete(chatId);
      bot.knownChats.set(chatId, member.chat.type === 'group' || member.chat.type === 'supergroup' ? member.chat.type : 'private');
    }
  }
}

/** The Telegram sandbox definition the channel's `index.ts` exposes as `sandbox`. */
export const telegramSandbox: SandboxDefinition<TelegramSettings> = { createFake, simulateInbound };
