/**
 * `send` for WhatsApp: plan the Graph messages (`outbound-parts.ts`), upload media, post each
 * message, map failures (`outbound-errors.ts`). Graph has no idempotency key, so a message of
 * several parts remembers, in shared state, which parts Meta already accepted: a retry of the
 * same `messageId` resumes after them instead of sending them to the customer twice.
 */
import type { OutboundMedia, OutboundMessage, SendResult, SharedState } from '../../core/adapter.ts';
import type { Clock } from '../../core/clock.ts';
import { OmniError } from '../../core/errors.ts';
import type { HttpResponse } from '../../core/http-client.ts';
import type { Logger } from '../../core/logger.ts';
import type { GraphClient } from './client.ts';
import { sendFailure, type FailureContext } from './outbound-errors.ts';
import { graphMime, planMessage, type Step } from './outbound-parts.ts';
import type { TemplateLimits } from './outbound-template.ts';

/** What the sender needs from the adapter's context. */
export interface WhatsAppSenderOptions {
  graph: GraphClient;
  phoneNumberId: string;
  /** Only to scrub it from platform text copied into errors. */
  accessToken: string;
  templates: TemplateLimits | null;
  clock: Clock;
  shared: SharedState;
  logger: Logger;
}

/** The adapter's `send`. */
export type WhatsAppSend = (message: OutboundMessage, signal: AbortSignal) => Promise<SendResult>;

/** `raw` of a SendResult: every wamid of the message (one per Graph message) and this attempt's answers. */
export interface WhatsAppSendRaw {
  externalIds: string[];
  responses: unknown[];
}

/** A business-scoped user id (`US.1349…`, parent `US.ENT.…`) goes in `recipient`, a number in `to`. */
export const BSUID = /^[A-Z]{2}\.(ENT\.)?\d+$/;

// Meta's pair-limit advice (131056): wait 4^x seconds, x = 0, 1, 2, …; capped, and forgotten after a quiet spell.
const PAIR_MAX_EXPONENT = 4;
const PAIR_MEMORY_MS = 10 * 60_000;
const PAIR_TRACKED_MAX = 10_000;

/** Creates the `send` of one account; the pair back-off memory lives as long as the adapter. */
export function createWhatsAppSender(options: WhatsAppSenderOptions): WhatsAppSend {
  const { graph, phoneNumberId, clock, shared, logger } = options;
  const pairBackoff = new Map<string, { exponent: number; at: number }>();

  const failureContext = (recipient: string): FailureContext => ({
    now: clock.now(),
    accessToken: options.accessToken,
    pairBackoffSeconds() {
      const now = clock.now().getTime();
      const previous = pairBackoff.get(recipient);
      const exponent = previous !== undefined && now - previous.at < PAIR_MEMORY_MS ? Math.min(previous.exponent + 1, PAIR_MAX_EXPONENT) : 0;
      pairBackoff.delete(recipient);
      pairBackoff.set(recipient, { exponent, at: now });
      // Map order is insertion order: the first key is the stalest.
      if (pairBackoff.size > PAIR_TRACKED_MAX) pairBackoff.delete(pairBackoff.keys().next().value!);
      return 4 ** exponent;
    },
  });

  const expectOk = async (response: HttpResponse, recipient: string): Promise<Record<string, unknown>> => {
    if (response.status < 200 || response.status > 299) throw await sendFailure(response, failureContext(recipient));
    try {
      const body: unknown = JSON.parse(await response.text());
      if (typeof body === 'object' && body !== null && !Array.isArray(body)) return body as Record<string, unknown>;
    } catch {
      // Falls through: a 2xx that is not JSON is handled like one without the expected fields.
    }
    return {};
  };

  const upload = async (media: OutboundMedia, filename: string, recipient: string, signal: AbortSignal): Promise<string> => {
    const response = await graph.uploadMedia(phoneNumberId, { bytes: media.bytes, mime: graphMime(media.mime), filename }, signal);
    const body = await expectOk(response, recipient);
    if (typeof body.id !== 'string' || body.id === '') {
      throw new OmniError('channel_unavailable', 'WhatsApp media upload returned no id', { details: { status: response.status } });
    }
    return body.id;
  };

  return async (message, signal) => {
    const steps = planMessage(message, options.templates);
    const to = message.to.externalId;
    const address = BSUID.test(to) ? { recipient: to } : { to };
    const progressKey = `send-progress:${message.messageId}`;
    const saved = steps.length > 1 ? await readProgress(shared, progressKey) : { externalIds: [], revision: 0 };
    const externalIds = saved.externalIds.slice(0, steps.length);
    const responses: unknown[] = [];
    // The reply quote goes on the first message that can carry one (a reaction names its own target).
    const contextIndex = message.replyTo === undefined ? -1 : steps.findIndex((step) => step.type !== 'reaction');

    for (let index = externalIds.length; index < steps.length; index++) {
      const step = steps[index]!;
      try {
        signal.throwIfAborted();
        const object = step.media === undefined ? step.object : { id: await upload(step.media, filenameOf(step), to, signal), ...step.object };
        const body: Record<string, unknown> = { messaging_product: 'whatsapp', recipient_type: 'individual', ...address, type: step.type, [step.type]: object };
        if (index === contextIndex) body.context = { message_id: message.replyTo!.externalId };
        const answer = await expectOk(await graph.postMessage(phoneNumberId, body, signal), to);
        externalIds.push(wamidOf(answer));
        responses.push(answer);
      } catch (error) {
        if (externalIds.length > saved.externalIds.length) await saveProgress(shared, progressKey, externalIds, saved.revision, logger);
        throw withSentIds(error, externalIds);
      }
    }
    pairBackoff.delete(to);
    if (saved.externalIds.length > 0) logger.debug({ messageId: message.messageId, resumedAfter: saved.externalIds.length }, 'whatsapp send resumed');
    const raw: WhatsAppSendRaw = { externalIds, responses };
    return { externalId: externalIds.at(-1)!, raw };
  };
}

/** The wamid of an accepted message; a 2xx without one is a platform fault, never a silent success. */
function wamidOf(answer: Record<string, unknown>): string {
  const first = Array.isArray(answer.messages) ? (answer.messages[0] as Record<string, unknown> | undefined) : undefined;
  const id = first?.id;
  if (typeof id === 'string' && id !== '') return id;
  // Not retryable: Meta may have accepted the message, and a retry could send it twice.
  throw new OmniError('channel_rejected', 'WhatsApp accepted the request but returned no message id', { details: { reason: 'no_message_id' } });
}

function filenameOf(step: Step): string {
  const named = step.object.filename;
  if (typeof named === 'string') return named;
  return step.media!.filename ?? `${step.media!.id}.${step.media!.ext}`;
}

/** Parts already accepted: kept on the error so the core can tell a partial send from none. */
function withSentIds(error: unknown, externalIds: string[]): unknown {
  if (!(error instanceof OmniError) || externalIds.length === 0) return error;
  return new OmniError(error.code, error.message, {
    details: { ...error.details, sentExternalIds: [...externalIds] },
    cause: error,
    ...(error.retryAfterSeconds !== undefined ? { retryAfterSeconds: error.retryAfterSeconds } : {}),
  });
}

/** How long a send's progress note is kept: far beyond any retry of that send. */
const SEND_PROGRESS_TTL_MS = 7 * 24 * 3600 * 1000;

async function readProgress(shared: SharedState, key: string): Promise<{ externalIds: string[]; revision: number }> {
  const entry = await shared.get(key);
  if (entry === null) return { externalIds: [], revision: 0 };
  try {
    const value: unknown = JSON.parse(entry.value);
    const ids = (value as { externalIds?: unknown }).externalIds;
    if (Array.isArray(ids) && ids.every((id) => typeof id === 'string')) return { externalIds: ids, revision: entry.revision };
  } catch {
    // Unreadable progress is treated as none: at worst a part is sent again, as without it.
  }
  return { externalIds: [], revision: entry.revision };
}

async function saveProgress(shared: SharedState, key: string, externalIds: string[], revision: number, logger: Logger): Promise<void> {
  try {
    const stored = await shared.put(key, JSON.stringify({ externalIds }), revision, { ttlMs: SEND_PROGRESS_TTL_MS });
    if (!stored) logger.warn({ key }, 'whatsapp send progress changed concurrently; not saved');
  } catch (error) {
    // The send's own failure is what the caller must see; losing the note only risks a repeat.
    logger.warn({ err: error, key }, 'whatsapp send progress could not be saved');
  }
}
