/**
 * The core's one inbound pipeline: verify → parse → record → notify. Two doors feed it: the
 * webhook route (raw bytes of a POST) and the poll loop (events a long poll returned). Whatever
 * the door, events are recorded durably before anything is confirmed to the platform, and only
 * then are the relay and media worker woken, new identities looked up, the adapter told
 * (`afterRecorded`) and the metrics counted. Webhooks are recorded by group commit (see
 * `group-commit.ts`): those that arrive while a transaction commits share the next one. A poll
 * is recorded in its own transaction, with its cursor.
 */
import type { Logger } from 'pino';
import type { ChannelAdapter, InboundEvent, VerifiedWebhook, WebhookAnswer, WebhookRequest } from '../adapter.ts';
import { OmniError, WebhookPayloadError, WebhookVerificationError } from '../errors.ts';
import type { Metrics } from '../metrics.ts';
import type { Tx } from '../storage/db.ts';
import { BodyTooLargeError } from '../http/body.ts';
import type { Ingestor } from './ingestor.ts';
import type { IdentityLookups } from './identity-lookups.ts';
import type { IngestResult } from './scope.ts';
import { GroupCommitter } from './group-commit.ts';

/** Finds the live adapter of an account (hot reload swaps them; requests keep theirs). */
export interface AdapterLookup {
  get(account: string): { adapter: ChannelAdapter; window: string } | undefined;
}

/** What the pipeline needs from the daemon. */
export interface PipelineDeps {
  adapters: AdapterLookup;
  ingestor: Ingestor;
  metrics: Metrics;
  logger: Logger;
  lookups: IdentityLookups;
  /** Group-commit lanes committing side by side (1 = one transaction at a time). */
  ingestLanes?: number;
  /** Event-loop turns a lane waits before taking a batch (for a database running in this thread). */
  ingestLingerTurns?: number;
  /** Wakes the relay (and the media worker when media was queued) after a commit. */
  wake(mediaQueued: number, recorded: number): void;
}

/** One webhook request as the door received it; the body is read inside, after counting. */
export interface IncomingWebhook {
  channel: string;
  account: string;
  method: string;
  url: URL;
  headers: ReadonlyMap<string, string>;
  readBody(): Promise<Uint8Array>;
}

const json = (status: number, body: unknown): WebhookAnswer => ({ status, body: JSON.stringify(body), contentType: 'application/json' });
const text = (status: number, body: string): WebhookAnswer => ({ status, body, contentType: 'text/plain; charset=UTF-8' });

/** The inbound pipeline; `webhook` never throws, `recordPolled` throws when nothing was recorded. */
export class InboundPipeline {
  /** Webhooks that arrive while a transaction commits share the next one. */
  private readonly committer: GroupCommitter;

  constructor(private readonly deps: PipelineDeps) {
    this.committer = new GroupCommitter(deps.ingestor, { batchSize: deps.metrics.ingestBatchSize, queued: deps.metrics.ingestQueued }, undefined, deps.ingestLanes ?? 1, deps.ingestLingerTurns ?? 0);
  }

  /** Handles one webhook request end to end and returns the answer for the platform. */
  async webhook(incoming: IncomingWebhook): Promise<WebhookAnswer> {
    const { deps } = this;
    const entry = deps.adapters.get(incoming.account);
    if (!entry || entry.adapter.channel !== incoming.channel) {
      deps.metrics.webhooksRejected.inc({ channel: 'unknown', account: 'unknown', reason: 'unknown_account' });
      return json(404, { error: { code: 'not_found', message: 'no such webhook' } });
    }
    const { adapter } = entry;
    const labels = { channel: adapter.channel, account: adapter.account };
    const method = incoming.method === 'GET' ? 'GET' : incoming.method === 'POST' ? 'POST' : null;
    if (!method) return json(405, { error: { code: 'invalid_request', message: 'method not allowed' } });
    deps.metrics.webhooksReceived.inc({ ...labels, method });
    const timer = deps.metrics.webhookDuration.startTimer(labels);
    try {
      const body = method === 'POST' ? await incoming.readBody() : new Uint8Array();
      const request: WebhookRequest = { method, url: incoming.url, headers: incoming.headers, body };
      if (method === 'GET') {
        if (!adapter.handshake) return json(405, { error: { code: 'invalid_request', message: 'this channel has no GET handshake' } });
        return adapter.handshake(request);
      }
      const verified = await adapter.verify(request);
      const events = adapter.parse(verified);
      const result = await this.committer.submit({ adapter, window: entry.window }, verified, events);
      this.afterCommit(adapter, verified, events, result);
      return adapter.answer ? adapter.answer(verified, events) : { status: 200, body: '{}', contentType: 'application/json' };
    } catch (error) {
      // The child logger only for a refusal: building one per webhook was 1 % of ingest's CPU.
      return this.refusal(error, method, labels, deps.logger.child(labels));
    } finally {
      timer();
    }
  }

  /**
   * Records what a long poll returned, with `within` (the cursor) in the same transaction.
   * Throws when the database cannot take them: the cursor then stays where it was.
   */
  recordPolled(entry: { adapter: ChannelAdapter; window: string }, events: InboundEvent[], within: (tx: Tx) => Promise<void>): Promise<IngestResult> {
    return this.record(entry, null, events, within);
  }

  private async record(entry: { adapter: ChannelAdapter; window: string }, verified: VerifiedWebhook | null, events: InboundEvent[], within?: (tx: Tx) => Promise<void>): Promise<IngestResult> {
    const { deps } = this;
    const { adapter } = entry;
    const result = await deps.ingestor.record({ adapter, window: entry.window }, verified, events, within ? { within } : {});
    this.afterCommit(adapter, verified, events, result);
    return result;
  }

  /** Metrics, logs and wake-ups of a recorded webhook or poll, after its commit. */
  private afterCommit(adapter: ChannelAdapter, verified: VerifiedWebhook | null, events: InboundEvent[], result: IngestResult): void {
    const { deps } = this;
    const labels = { channel: adapter.channel, account: adapter.account };
    deps.metrics.eventsRecorded.inc(labels, result.recorded);
    if (result.duplicates) deps.metrics.eventsDeduplicated.inc(labels, result.duplicates);
    for (const [reason, n] of Object.entries(result.ignored)) deps.metrics.eventsIgnored.inc({ ...labels, reason }, n);
    for (const [reason, n] of Object.entries(result.deadLettered)) {
      deps.metrics.inboundDeadLetters.inc({ ...labels, reason }, n);
      // The reason is a constant; the item itself is in the dead letter, never in the log.
      deps.logger.warn({ ...labels, reason, count: n }, 'inbound items dead-lettered; the rest of the batch was recorded');
    }
    deps.logger.debug({ ...labels, recorded: result.recorded, duplicates: result.duplicates, ignored: result.ignored }, verified ? 'webhook recorded' : 'poll recorded');
    deps.wake(result.mediaQueued, result.recorded);
    if (result.newIdentities.length > 0) deps.lookups.enqueue(adapter, result.newIdentities);
    if (adapter.afterRecorded && events.some((e) => e.kind !== 'ignored' && e.kind !== 'invalid')) {
      // After the commit and off the answer's path: a slow platform call never delays a webhook.
      adapter.afterRecorded(events, AbortSignal.timeout(10_000)).catch((error) => deps.logger.warn({ ...labels, err: error }, 'afterRecorded failed'));
    }
  }

  private refusal(error: unknown, method: 'GET' | 'POST', labels: { channel: string; account: string }, log: Logger): WebhookAnswer {
    const { metrics } = this.deps;
    if (error instanceof WebhookVerificationError) {
      metrics.webhooksRejected.inc({ ...labels, reason: error.reason });
      log.warn({ reason: error.reason, method }, 'webhook verification failed');
      return method === 'GET' ? text(403, 'forbidden') : text(401, 'unauthorized');
    }
    if (error instanceof BodyTooLargeError) {
      metrics.webhooksRejected.inc({ ...labels, reason: 'too_large' });
      log.warn({ limit: error.limit }, 'webhook body too large');
      return json(413, { error: { code: 'invalid_request', message: error.message } });
    }
    if (error instanceof WebhookPayloadError) {
      metrics.webhooksRejected.inc({ ...labels, reason: error.reason });
      log.warn({ reason: error.reason }, 'webhook payload rejected');
      return json(400, { error: { code: 'invalid_request', message: error.message } });
    }
    if (error instanceof OmniError && error.code !== 'internal') {
      log.warn({ code: error.code }, 'webhook refused');
      return json(error.httpStatus, { error: error.toBody() });
    }
    // The database could not take the batch: the platform must retry, so never 2xx here.
    log.error({ err: error }, 'webhook could not be recorded');
    return json(503, { error: { code: 'channel_unavailable', message: 'temporarily unable to record; retry later' } });
  }
}
