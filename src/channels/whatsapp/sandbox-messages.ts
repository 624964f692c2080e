/**
 * The fake's send endpoint, `POST /{version}/{phone-number-id}/messages`, behaving like Meta:
 * bearer auth, strict request checks (`sandbox-messages-shape.ts`), a token bucket per number
 * (130429), the 24 h customer-service window (131047), unknown numbers (131026), an approved
 * template catalogue, and signed `sent` → `delivered` → `read` status webhooks afterwards.
 *
 * The window opens when the fake learns that a customer wrote: `noteInbound`, `simulateCustomer`
 * (builds the signed webhook, notes it, delivers it) or `POST {base}/_omnibus/inbound` with a
 * simulated webhook (for a simulator in another process). A customer it never heard from is
 * outside the window, as on Meta.
 */
import type { Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { SimulateInput, WebhookRequestSpec } from '../../core/adapter.ts';
import { ConversationWindows, FailureQueue, RateBuckets, jsonAnswer, registerObserveRoute } from '../../sandbox/index.ts';
import { authenticate, graphError, graphJson, invalidParameter, invalidToken, unknownObject, whatsappError, type FakeState, type WhatsAppAccount } from './sandbox-graph.ts';
import { checkSendRequest, normaliseCustomer } from './sandbox-messages-shape.ts';
import { DEFAULT_TEMPLATES, type FakeTemplate } from './sandbox-messages-templates.ts';
import { createStatusPump, statusRecords, type StatusRecord } from './sandbox-messages-statuses.ts';
import { newWamid, signWhatsAppBody, simulateInbound } from './sandbox-webhooks.ts';
import { pricingOf, type SignalLog } from './sandbox-signals.ts';

export { DEFAULT_TEMPLATES, type FakeTemplate } from './sandbox-messages-templates.ts';
export type { StatusRecord } from './sandbox-messages-statuses.ts';

/** How the fake's send endpoint behaves; every field has Meta's default. */
export interface FakeMessagesOptions {
  /** A free-form send outside the window: 'async' = 200 then a failed status 131047 (Meta's usual path), 'sync' = 400 131047. */
  windowFailure?: 'async' | 'sync';
  /** Messages per second per phone number before 130429 (Meta: 80). */
  throughputPerSecond?: number;
  /** Customers that are not on WhatsApp (131026), beside every number starting `1555000`. */
  unreachable?: ReadonlyArray<string>;
  templates?: ReadonlyArray<FakeTemplate>;
  /** Milliseconds before each status webhook (default 50); `flushStatuses()` skips the wait. */
  statusDelayMs?: number;
  /** Receipts after `sent` (default delivered and read; reactions only ever get `sent`). */
  receipts?: ReadonlyArray<'delivered' | 'read'>;
  /** The category Meta bills a template under (the catalog's); default `utility`. */
  templateCategory?(account: WhatsAppAccount, name: string, language: string): string | undefined;
  /** Where mark-as-read and typing requests are recorded. */
  signals?: SignalLog;
}

/** A send the fake accepted (HTTP 200), with the request body exactly as parsed. */
export interface SentMessage {
  phoneNumberId: string;
  wamid: string;
  /** Phone digits without `+`, or the BSUID. */
  customer: string;
  type: string;
  body: Record<string, unknown>;
  at: Date;
  /** The code of the failed status that followed instead of receipts (131047, 131026). */
  failure?: number;
}

/** A failure `failNext` answers with; defaults follow the status (429 → 130429, 5xx → code 2). */
export interface FakeFailure {
  status?: number;
  code?: number;
  title?: string;
  details?: string;
  /** Seconds, sent as a `Retry-After` header. */
  retryAfter?: number;
}

/** The WhatsApp-specific hooks of the fake, beside `SandboxFake`. */
export interface WhatsAppFakeMessages {
  /** A customer wrote at `at` (default now): opens or refreshes their 24 h window. */
  noteInbound(phoneNumberId: string, customer: string, at?: Date): void;
  /** Forget that a customer wrote: free-form sends to them fail with 131047. */
  closeWindow(phoneNumberId: string, customer: string): void;
  /** Play a customer: build the signed webhook, note the window, post it via `deliverWebhook`. */
  simulateCustomer(phoneNumberId: string, input: SimulateInput): Promise<WebhookRequestSpec>;
  /** Accepted sends, oldest first, optionally of one phone number. */
  sent(phoneNumberId?: string): SentMessage[];
  /** Status webhooks handed to `deliverWebhook`, oldest first. */
  statuses(phoneNumberId?: string): StatusRecord[];
  /** Answer the next `count` authenticated sends with this failure. */
  failNext(count: number, failure?: FakeFailure): void;
  setThroughput(perSecond: number): void;
  setWindowFailure(mode: 'async' | 'sync'): void;
  setReceipts(receipts: ReadonlyArray<'delivered' | 'read'>): void;
  /** Hold status webhooks in the queue until `flushStatuses` or `holdStatuses(false)`. */
  holdStatuses(hold: boolean): void;
  /** Deliver every queued status webhook now, in order; resolves when all are delivered. */
  flushStatuses(): Promise<void>;
}

const WINDOW_MS = 24 * 3_600_000;
const UNREACHABLE_PREFIX = '1555000';
const MAX_SENT = 10_000;
const RE_ENGAGEMENT = {
  code: 131047,
  title: 'Re-engagement message',
  details: 'Message failed to send because more than 24 hours have passed since the customer last replied to this number.',
};
const UNDELIVERABLE = { code: 131026, title: 'Message undeliverable', details: 'Unable to deliver the message. The recipient is not a WhatsApp user.' };

/** Register the send routes and return the hooks; `state.accounts` is read live, so reloads apply. */
export function registerMessageRoutes(app: Hono, state: FakeState, versionPattern: string, options: FakeMessagesOptions = {}): WhatsAppFakeMessages {
  let windowFailure = options.windowFailure ?? 'async';
  let receipts: ReadonlyArray<'delivered' | 'read'> = options.receipts ?? ['delivered', 'read'];
  const templates = options.templates ?? DEFAULT_TEMPLATES;
  const unreachable = new Set((options.unreachable ?? []).map(normaliseCustomer));
  const windows = new ConversationWindows({ clock: state.clock, rules: [{ name: 'message', durationMs: WINDOW_MS, quota: null }] });
  const buckets = new RateBuckets(state.clock, options.throughputPerSecond ?? 80);
  const sentLog: SentMessage[] = [];
  const failures = new FailureQueue<FakeFailure>();
  const pump = createStatusPump(state, options.statusDelayMs ?? 50);

  const noteInbound = (phoneNumberId: string, customer: string, at: Date = state.clock.now()) => {
    windows.grant(phoneNumberId, normaliseCustomer(customer), 'message', at);
  };
  const inWindow = (phoneNumberId: string, customer: string): boolean => windows.isOpen(phoneNumberId, normaliseCustomer(customer));

  const handleSend = async (c: Context): Promise<Response> => {
    const principal = authenticate(state, c.req.raw);
    if (principal === null) return invalidToken();
    const phoneNumberId = c.req.param('id')!;
    const account = state.accounts.get(phoneNumberId);
    if (account === undefined || !principal.phoneNumberIds.has(phoneNumberId)) return unknownObject('POST', phoneNumberId);
    const failure = failures.take('messages');
    if (failure !== undefined) return scriptedFailure(failure);
    if (!buckets.take(phoneNumberId)) return whatsappError(400, 130429, 'Rate limit hit', 'Cloud API message throughput has been reached.');

    let body: unknown;
    try {
      body = JSON.parse(await c.req.text());
    } catch {
      return invalidParameter('The parameter messaging_product is required.');
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return invalidParameter('The parameter messaging_product is required.');
    const request = body as Record<string, unknown>;
    if (request.status === 'read' && typeof request.message_id === 'string') return options.signals?.record(phoneNumberId, request, state.clock.now()) ?? graphJson({ success: true });

    const checked = checkSendRequest(request, {
      templates,
      mediaMime: (id) => {
        const media = state.media.get(id);
        return media !== undefined && (media.owner === null || media.owner === phoneNumberId) ? media.mime : undefined;
      },
    });
    const open = checked.type === 'template' || inWindow(phoneNumberId, checked.customer);
    if (!open && windowFailure === 'sync') return whatsappError(400, RE_ENGAGEMENT.code, RE_ENGAGEMENT.title, RE_ENGAGEMENT.details);

    const wamid = newWamid(checked.customer, 'outbound');
    const record: SentMessage = { phoneNumberId, wamid, customer: checked.customer, type: checked.type, body: request, at: state.clock.now() };
    const failed = isUnreachable(checked.customer, unreachable) ? UNDELIVERABLE : open ? undefined : RE_ENGAGEMENT;
    if (failed !== undefined) record.failure = failed.code;
    sentLog.push(record);
    if (sentLog.length > MAX_SENT) sentLog.shift();

    const base = { account, wamid, recipientId: checked.customer };
    if (failed !== undefined) pump.push({ ...base, status: 'failed', error: { code: failed.code, title: failed.title, details: failed.details } });
    else {
      const pricing = pricingOf(checked.type, request, (name, language) => options.templateCategory?.(account, name, language));
      pump.push(...['sent' as const, ...(checked.type === 'reaction' ? [] : receipts)].map((status) => ({ ...base, status, pricing })));
    }

    const contact = checked.byUserId ? { input: checked.input, user_id: checked.customer } : { input: checked.input, wa_id: checked.customer };
    const message = checked.type === 'template' ? { id: wamid, message_status: 'accepted' } : { id: wamid };
    return graphJson({ messaging_product: 'whatsapp', contacts: [contact], messages: [message] });
  };

  // The request checks throw FakeRefusal with Meta's answer; the fake's app answers it as it is.
  app.post(`/${versionPattern}/:id/messages`, bodyLimit({ maxSize: 1024 * 1024, onError: () => invalidParameter('Request body is too large.') }), handleSend);

  // A simulator in another process tells the platform what the customer did.
  const noted = (raw: string, signature: string) => {
    const count = noteWebhook(raw, signature, state, noteInbound);
    return count === null ? { status: 401, body: { error: { message: 'signature does not match any account' } } } : { status: 200, body: { noted: count } };
  };
  app.post('/_omnibus/inbound', async (c) => {
    const answer = noted(await c.req.text(), c.req.header('x-hub-signature-256') ?? '');
    return jsonAnswer(answer.body, { status: answer.status });
  });
  // The sandbox convention every fake serves: the simulator's whole request as JSON.
  registerObserveRoute(app, (spec) => noted(spec.body as string, spec.headers['x-hub-signature-256'] ?? ''));

  return {
    noteInbound,
    closeWindow: (phoneNumberId, customer) => windows.close(phoneNumberId, normaliseCustomer(customer)),
    async simulateCustomer(phoneNumberId, input) {
      const account = state.accounts.get(phoneNumberId);
      if (account === undefined) throw new Error(`the fake serves no phone number id ${phoneNumberId}`);
      const timestamp = input.timestamp ?? state.clock.now();
      const spec = simulateInbound(account, { ...input, timestamp });
      noteInbound(phoneNumberId, input.from, timestamp);
      await state.deliverWebhook?.(spec);
      return spec;
    },
    sent: (phoneNumberId) => sentLog.filter((entry) => phoneNumberId === undefined || entry.phoneNumberId === phoneNumberId),
    statuses: (phoneNumberId) => statusRecords(pump.records(), phoneNumberId),
    failNext: (count, failure = {}) => failures.script('messages', failure, count),
    setThroughput: (perSecond) => buckets.setRate(perSecond),
    setWindowFailure: (mode) => void (windowFailure = mode),
    setReceipts: (next) => void (receipts = [...next]),
    holdStatuses: (hold) => pump.hold(hold),
    flushStatuses: () => pump.flush(),
  };
}

function isUnreachable(customer: string, configured: ReadonlySet<string>): boolean {
  return customer.startsWith(UNREACHABLE_PREFIX) || configured.has(customer);
}

function scriptedFailure(failure: FakeFailure): Response {
  const status = failure.status ?? (failure.code === undefined ? 500 : failure.code === 190 ? 401 : 400);
  const fallback =
    status === 429 ? { code: 130429, title: 'Rate limit hit' } : status >= 500 ? { code: 2, title: 'Service temporarily unavailable' } : status === 401 ? { code: 190, title: 'Invalid OAuth access token' } : { code: 131000, title: 'Something went wrong' };
  const code = failure.code ?? fallback.code;
  const title = failure.title ?? (failure.code === undefined ? fallback.title : 'Scripted failure');
  const headers: Record<string, string> = failure.retryAfter !== undefined ? { 'retry-after': String(failure.retryAfter) } : {};
  return graphError(status, {
    message: `(#${code}) ${title}`,
    type: 'OAuthException',
    code,
    error_data: { messaging_product: 'whatsapp', details: failure.details ?? title },
  }, headers);
}

/** Note every customer message of a signed webhook; null when no served account signed it. */
function noteWebhook(raw: string, signature: string, state: FakeState, note: (phoneNumberId: string, customer: string, at: Date) => void): number | null {
  let payload: unknown;
  try {
    payload = JSON.parse(raw);
  } catch {
    return null;
  }
  let noted = 0;
  let authentic = false;
  for (const entry of asArray((payload as { entry?: unknown })?.entry)) {
    for (const change of asArray((entry as { changes?: unknown })?.changes)) {
      const value = (change as { value?: Record<string, unknown> })?.value;
      const phoneNumberId = (value?.metadata as { phone_number_id?: unknown } | undefined)?.phone_number_id;
      const account: WhatsAppAccount | undefined = typeof phoneNumberId === 'string' ? state.accounts.get(phoneNumberId) : undefined;
      if (account === undefined || signWhatsAppBody(raw, account.settings.appSecret) !== signature.toLowerCase()) continue;
      authentic = true;
      for (const message of asArray(value?.messages)) {
        const { from, from_user_id: fromUserId, timestamp } = message as Record<string, unknown>;
        const customer = typeof from === 'string' ? from : typeof fromUserId === 'string' ? fromUserId : undefined;
        const seconds = Number(timestamp);
        if (customer === undefined || !Number.isFinite(seconds)) continue;
        note(account.settings.phoneNumberId, customer, new Date(seconds * 1000));
        noted++;
      }
    }
  }
  return authentic ? noted : null;
}

function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}
